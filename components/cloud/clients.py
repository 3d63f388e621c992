"""The one place that builds Google clients, and the one place that knows emulator vs Google.

A stack with `emulator: true` talks to the local emulator (`edgectl emulator start`) at the
endpoints in its environment lines; every other stack talks to Google with Application
Default Credentials. Clients hold channels and credentials, which cannot be pickled, so
providers call these functions inside their methods, never at construction.
"""

import os
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import automl_v1, storage
from google.cloud.automl_v1.services.auto_ml.transports import AutoMlGrpcTransport

from components.cloud.errors import CloudError

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
AUTOML_ENV = "EDGE_LABELER_AUTOML_ENDPOINT"
VERTEX_ENV = "EDGE_LABELER_VERTEX_ENDPOINT"
FIREBASE_ML_ENV = "EDGE_LABELER_FIREBASE_ML_ENDPOINT"
EMULATOR_ENV = (STORAGE_ENV, AUTOML_ENV, VERTEX_ENV, FIREBASE_ML_ENV)


@dataclass(frozen=True)
class CloudTarget:
    """Where a stack's resources live; passed to providers as the `cloud` input."""

    stack: str
    project: str
    region: str = "us-central1"
    api: str = "automl_v1"  # training API adapter: automl_v1 | vertex
    registry: str = "firebase_ml"  # publication adapter: firebase_ml | storage
    emulator: bool = False

    def as_inputs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_inputs(cls, data: dict[str, Any]) -> "CloudTarget":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def endpoint(target: CloudTarget, env: str) -> str | None:
    """The emulator endpoint for an emulator stack (required), None for Google."""
    if not target.emulator:
        if os.environ.get(env):
            raise CloudError(
                f"{env} is set, but stack '{target.stack}' is a Google Cloud stack "
                f"(edge-labeler:emulator is false); unset {env} so that nothing meant for "
                "Google goes to the local emulator"
            )
        return None
    value = os.environ.get(env)
    if not value:
        raise CloudError(
            f"stack '{target.stack}' uses the local emulator, but {env} is not set: start it "
            "with `edgectl emulator start` and export the KEY=value lines it prints "
            "(`make up` does both)"
        )
    return value


def storage_client(target: CloudTarget) -> storage.Client:
    url = endpoint(target, STORAGE_ENV)
    if url is not None:
        return _emulator_storage(url, target.project)
    return storage.Client(project=target.project)


@cache
def _emulator_storage(url: str, project: str) -> storage.Client:
    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )


def automl_client(target: CloudTarget) -> automl_v1.AutoMlClient:
    host = endpoint(target, AUTOML_ENV)
    if host is not None:
        return _emulator_automl(host)
    # AutoML v1 serves from automl.googleapis.com, and eu-automl.googleapis.com for the EU.
    api = "eu-automl.googleapis.com" if target.region == "eu" else "automl.googleapis.com"
    return automl_v1.AutoMlClient(client_options=ClientOptions(api_endpoint=api))


@cache
def _emulator_automl(host: str) -> automl_v1.AutoMlClient:
    channel = grpc.insecure_channel(host)
    return automl_v1.AutoMlClient(transport=AutoMlGrpcTransport(channel=channel))


@cache
def _emulator_prediction(host: str) -> automl_v1.PredictionServiceClient:
    from google.cloud.automl_v1.services.prediction_service.transports import (
        PredictionServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(host)
    return automl_v1.PredictionServiceClient(
        transport=PredictionServiceGrpcTransport(channel=channel)
    )


def automl_prediction_client(target: CloudTarget) -> automl_v1.PredictionServiceClient:
    host = endpoint(target, AUTOML_ENV)
    if host is not None:
        return _emulator_prediction(host)
    api = "eu-automl.googleapis.com" if target.region == "eu" else "automl.googleapis.com"
    return automl_v1.PredictionServiceClient(client_options=ClientOptions(api_endpoint=api))
