"""The one place that builds Google clients, and the one place that knows emulator vs Google.

A stack with `emulator: true` talks to the local emulator (`edgectl emulator start`) at the
endpoints in its environment lines (no credentials: the emulator ignores them); every other
stack talks to Google with `google_credentials()`: Application Default Credentials, or what
the stack's access settings say (`edge-labeler:credentials`, a service-account key, and/or
`edge-labeler:impersonateServiceAccount`, impersonated with google-auth's
impersonated_credentials on top of them). The providers read those settings from the
stack's configuration in their `configure` call (`use_access`), so a secret reaches them as
the Pulumi engine decrypts it and never passes through resource inputs, outputs or state.
Clients hold channels and credentials, which cannot be pickled, so providers call these
functions inside their methods, never at construction.
"""

import datetime
import hashlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Required, TypedDict

from components.cloud.errors import CloudError, cloud_errors

# The client libraries are imported by the factory that needs them, not here: this module's
# CloudTarget is read by every provider and by `edgectl review`, which build no client, and
# firebase_admin, google-cloud-automl and google-cloud-storage take about a second to import.
if TYPE_CHECKING:
    import firebase_admin
    import google.cloud.storage as storage  # untyped: mypy misreads the from-import
    import grpc
    from google.auth.credentials import Credentials
    from google.cloud import aiplatform_v1, automl_v1

    from components.spec import StackConfig

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
AUTOML_ENV = "EDGE_LABELER_AUTOML_ENDPOINT"
VERTEX_ENV = "EDGE_LABELER_VERTEX_ENDPOINT"
FIREBASE_ML_ENV = "EDGE_LABELER_FIREBASE_ML_ENDPOINT"
REMOTE_CONFIG_ENV = "EDGE_LABELER_REMOTE_CONFIG_ENDPOINT"  # optional: else FIREBASE_ML_ENV's server
EMULATOR_ENV = (STORAGE_ENV, AUTOML_ENV, VERTEX_ENV, FIREBASE_ML_ENV)


Setting = Literal["project", "region", "api", "registry", "emulator"]
# The CloudTarget settings each service's clients read (see the factories below).
STORAGE: tuple[Setting, ...] = ("project", "emulator")
TRAINING: tuple[Setting, ...] = ("project", "region", "api", "emulator")
# Firebase ML is per project; a Publication's own `spec.target` picks the adapter.
REGISTRY: tuple[Setting, ...] = ("project", "emulator")
# Remote Config holds one template per Firebase project.
REMOTE_CONFIG: tuple[Setting, ...] = ("project", "emulator")
SETTINGS: tuple[Setting, ...] = ("project", "region", "api", "registry", "emulator")


class CloudInputs(TypedDict, total=False):
    """A resource's `cloud` input: the stack, and the settings its clients read."""

    stack: Required[str]
    project: str
    region: str
    api: str
    registry: str
    emulator: bool


@dataclass(frozen=True)
class CloudTarget:
    """Where a stack's resources live; passed to providers as the `cloud` input."""

    stack: str
    project: str
    region: str = "us-central1"
    api: str = "automl_v1"  # training API adapter: automl_v1 | vertex
    registry: str = "firebase_ml"  # publication adapter: firebase_ml | storage
    emulator: bool = False

    def as_inputs(self, *services: tuple[Setting, ...]) -> CloudInputs:
        """The stack and the settings the clients of `services` read (STORAGE, TRAINING,
        REGISTRY, REMOTE_CONFIG; all settings without any): a resource's `cloud` input, so
        that a setting it never reads cannot change it."""
        inputs: CloudInputs = {"stack": self.stack}
        keep = {key for service in services for key in service} if services else set(SETTINGS)
        for key in SETTINGS:  # in the order of the fields, as the state has them
            if key in keep:
                inputs[key] = getattr(self, key)
        return inputs

    @classmethod
    def from_inputs(cls, data: Mapping[str, Any]) -> "CloudTarget":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def cloud_target(config: "StackConfig") -> CloudTarget:
    """Where a stack's resources live, from its configuration (`Pulumi.<stack>.yaml`)."""
    return CloudTarget(
        stack=config.stack,
        project=config.project,
        region=config.region,
        api=config.api.value,
        registry=config.registry.value,
        emulator=config.emulator,
    )


# ---- credentials for Google (never for the emulator) -----------------------------------------

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IMPERSONATION_SECONDS = 3600  # google-auth's default and maximum without an org policy


@dataclass(frozen=True)
class Access:
    """How a provider process authenticates to Google. Empty: Application Default Credentials
    (a developer's `gcloud auth application-default login`, a CI job's Workload Identity
    Federation, a VM's service account). The values never show in a repr."""

    impersonate: str | None = field(default=None, repr=False)  # a service account's email
    credentials: str | None = field(default=None, repr=False)  # a service-account key (JSON)

    def digest(self) -> str:
        """Tells two Accesses apart without showing either (firebase_admin app names)."""
        text = json.dumps([self.impersonate, self.credentials])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_access = Access()


def use_access(config: Mapping[str, Any]) -> None:
    """Sets this process's Access from the stack configuration a provider is configured with
    (`edge-labeler:impersonateServiceAccount`, `edge-labeler:credentials`; secrets arrive
    decrypted). One provider process serves one stack."""
    global _access
    impersonate = config.get("edge-labeler:impersonateServiceAccount")
    credentials = config.get("edge-labeler:credentials")
    _access = Access(
        impersonate=impersonate if isinstance(impersonate, str) and impersonate else None,
        credentials=credentials if isinstance(credentials, str) and credentials else None,
    )


def current_access() -> Access:
    """This process's Access, for a worker process that must build the same clients
    (components/cloud/upload_pool.py hands it to its workers with `set_access`)."""
    return _access


def set_access(access: Access) -> None:
    """Sets this process's Access to one `current_access` gave in another process."""
    global _access
    _access = access


def google_credentials() -> "Credentials | None":
    """The credentials of Google clients; None: the client library's own ADC lookup."""
    access = _access
    if access.impersonate is None and access.credentials is None:
        return None
    import google.auth
    from google.auth import impersonated_credentials

    source: Credentials
    if access.credentials is not None:
        source = _key_credentials(access.credentials)
    else:
        with cloud_errors("loading Application Default Credentials"):
            source, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    if access.impersonate is None:
        return source
    # Impersonated credentials also sign (IAM signBlob): Firebase ML's signed model URLs work.
    impersonated: Credentials = impersonated_credentials.Credentials(
        source_credentials=source,
        target_principal=access.impersonate,
        target_scopes=[CLOUD_PLATFORM],
        lifetime=IMPERSONATION_SECONDS,
    )
    return impersonated


def _key_credentials(key: str) -> "Credentials":
    """A service-account key's credentials; an error never repeats the key."""
    from google.oauth2 import service_account

    try:
        info = json.loads(key)
        credentials: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[CLOUD_PLATFORM]
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CloudError(
            "edge-labeler:credentials is not a service-account key (the JSON file "
            "`gcloud iam service-accounts keys create` writes); its value is not shown"
        ) from None
    return credentials


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


# Google's refresh timeout of a client's credentials (google-cloud-core's, for its own sessions).
CREDENTIALS_REFRESH_SECONDS = 300


def storage_client(target: CloudTarget) -> "storage.Client":
    """A Cloud Storage client over `sessions.StorageSession` (32 connections kept per host,
    requests' per-origin settings prepared once): the emulator's, or Google's with
    `google_credentials()` (else Application Default Credentials, scoped as the library
    scopes them)."""
    url = endpoint(target, STORAGE_ENV)
    if url is not None:
        return _emulator_storage(url, target.project)
    import google.auth
    import google.cloud.storage as storage
    from google.auth.credentials import with_scopes_if_required

    from components.cloud.sessions import StorageSession

    credentials = google_credentials()
    if credentials is None:
        with cloud_errors("loading Application Default Credentials"):
            credentials, _ = google.auth.default(scopes=storage.Client.SCOPE)
    credentials = with_scopes_if_required(credentials, storage.Client.SCOPE)
    session = StorageSession(credentials, refresh_timeout=CREDENTIALS_REFRESH_SECONDS)
    # What the library does to a session it makes: mutual TLS when the environment asks.
    session.configure_mtls_channel()  # type: ignore[no-untyped-call]
    return storage.Client(project=target.project, credentials=credentials, _http=session)


@cache
def _emulator_storage(url: str, project: str) -> "storage.Client":
    import google.cloud.storage as storage
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    from components.cloud.sessions import StorageSession

    # One client (and connection pool) for every thread of this process. No proxy from the
    # environment: the emulator is on this machine's loopback.
    session = StorageSession(AnonymousCredentials())
    session.trust_env = False
    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
        _http=session,
    )


def automl_client(target: CloudTarget) -> "automl_v1.AutoMlClient":
    client: automl_v1.AutoMlClient = _automl(target, "auto_ml")
    return client


def automl_prediction_client(target: CloudTarget) -> "automl_v1.PredictionServiceClient":
    """AutoML v1's PredictionService (online prediction by a deployed model)."""
    client: automl_v1.PredictionServiceClient = _automl(target, "prediction_service")
    return client


_AUTOML_SERVICES = {
    "auto_ml": ("AutoMlClient", "AutoMlGrpcTransport"),
    "prediction_service": ("PredictionServiceClient", "PredictionServiceGrpcTransport"),
}


def _automl(target: CloudTarget, service: str) -> Any:
    """The client of an AutoML v1 `service`: the emulator's, or Google's endpoint."""
    # AutoML v1 serves from automl.googleapis.com, and eu-automl.googleapis.com for the EU.
    api = "eu-automl.googleapis.com" if target.region == "eu" else "automl.googleapis.com"
    host = endpoint(target, AUTOML_ENV)
    return _gapic_client("automl_v1", _AUTOML_SERVICES, service, host, api)


def _gapic_client(
    package: str, services: Mapping[str, tuple[str, str]], service: str, host: str | None, api: str
) -> Any:
    """A GAPIC client of `google.cloud.<package>`'s `service`: over an insecure channel to the
    emulator at `host`, else to Google's `api` endpoint (Any: the class is looked up by name,
    so that the package is imported only here, when a client is made)."""
    client_name, transport_name = services[service]
    if host is not None:
        return _emulator_client(package, service, client_name, transport_name, host)
    from google.api_core.client_options import ClientOptions

    module = importlib.import_module(f"google.cloud.{package}")
    return getattr(module, client_name)(
        credentials=google_credentials(), client_options=ClientOptions(api_endpoint=api)
    )


@cache
def _emulator_client(
    package: str, service: str, client_name: str, transport_name: str, host: str
) -> Any:
    transports = importlib.import_module(f"google.cloud.{package}.services.{service}.transports")
    transport = getattr(transports, transport_name)(channel=_emulator_channel(host))
    return getattr(importlib.import_module(f"google.cloud.{package}"), client_name)(
        transport=transport
    )


# ---- Vertex AI (google-cloud-aiplatform's GAPIC clients, aiplatform_v1) ---------------------
# Imported on first use, as every client library here: aiplatform_v1 takes about a second to
# import, and AutoML stacks never need it.


def vertex_dataset_client(target: CloudTarget) -> "aiplatform_v1.DatasetServiceClient":
    client: aiplatform_v1.DatasetServiceClient = _vertex_client(target, "dataset_service")
    return client


def vertex_pipeline_client(target: CloudTarget) -> "aiplatform_v1.PipelineServiceClient":
    client: aiplatform_v1.PipelineServiceClient = _vertex_client(target, "pipeline_service")
    return client


def vertex_model_client(target: CloudTarget) -> "aiplatform_v1.ModelServiceClient":
    client: aiplatform_v1.ModelServiceClient = _vertex_client(target, "model_service")
    return client


_VERTEX_SERVICES = {
    "dataset_service": ("DatasetServiceClient", "DatasetServiceGrpcTransport"),
    "pipeline_service": ("PipelineServiceClient", "PipelineServiceGrpcTransport"),
    "model_service": ("ModelServiceClient", "ModelServiceGrpcTransport"),
}


def _vertex_client(target: CloudTarget, service: str) -> Any:
    """The client of a Vertex AI `service`: the emulator's, or the region's endpoint."""
    host = endpoint(target, VERTEX_ENV)
    # Vertex AI serves each region from its own endpoint.
    api = f"{target.region}-aiplatform.googleapis.com"
    return _gapic_client("aiplatform_v1", _VERTEX_SERVICES, service, host, api)


@cache
def _emulator_channel(host: str) -> "grpc.Channel":
    """One channel per emulator endpoint, shared by its clients."""
    import grpc

    return grpc.insecure_channel(host)


# ---- Firebase Remote Config (REST; components/cloud/remote_config.py) ----------------------

REMOTE_CONFIG_API = "https://firebaseremoteconfig.googleapis.com"


def remote_config_endpoint(target: CloudTarget) -> "tuple[str, Credentials]":
    """Remote Config's REST root and credentials: the emulator's REST server, unauthenticated
    (REMOTE_CONFIG_ENV, else FIREBASE_ML_ENV: the emulator serves both APIs on one server), or
    Google's with `google_credentials()` (else ADC, cloud-platform scope)."""
    emulated = target.emulator and not os.environ.get(REMOTE_CONFIG_ENV)
    url = endpoint(target, FIREBASE_ML_ENV if emulated else REMOTE_CONFIG_ENV)
    if url is not None:
        from google.auth.credentials import AnonymousCredentials

        return url.rstrip("/"), AnonymousCredentials()
    from firebase_admin import credentials as firebase_credentials

    configured = google_credentials()
    if configured is not None:
        return REMOTE_CONFIG_API, configured
    with cloud_errors(f"connecting to Firebase Remote Config for stack '{target.stack}'"):
        credential: Credentials = firebase_credentials.ApplicationDefault().get_credential()
    return REMOTE_CONFIG_API, credential


# ---- Firebase ML (firebase_admin) -----------------------------------------------------------

FIREBASE_ML_API = "https://firebaseml.googleapis.com"
# Polling of the emulator's operations (firebase-admin waits 3 s × 1.5^n between polls, sized
# for Google's rate limits; the emulator validates a model in milliseconds).
_EMULATOR_POLL_SECONDS = 0.05
_firebase_import_lock = threading.Lock()
_firebase_apps_lock = threading.Lock()


def firebase_ml_module() -> ModuleType:
    """`firebase_admin.ml`, imported without letting it import TensorFlow.

    firebase-admin 7.7.0's ml module runs `import tensorflow` when it is imported (for
    `TFLiteGCSModelSource.from_keras_model` / `from_saved_model`, which this tool never uses).
    That would load TensorFlow unconfigured (emulator/core/tf_setup.py is the one place that
    configures it) and cost seconds in every provider process, so the import is blocked here
    unless TensorFlow is already loaded. Import `firebase_admin.ml` only through this function.
    """
    with _firebase_import_lock:
        module = sys.modules.get("firebase_admin.ml")
        if module is not None:
            return module
        blocked = "tensorflow" not in sys.modules
        if blocked:
            sys.modules["tensorflow"] = None  # type: ignore[assignment]  # import → ImportError
        try:
            return importlib.import_module("firebase_admin.ml")
        finally:
            if blocked and sys.modules.get("tensorflow", False) is None:
                del sys.modules["tensorflow"]


def firebase_app(target: CloudTarget) -> "firebase_admin.App":
    """The firebase_admin app of a stack: Firebase ML at the local emulator, or at Google.

    One app per target, named after the stack, project and endpoints (never credentials). This
    is the one place where firebase-admin's base URLs are redirected: the app's ML service is
    registered here (see `_ml_service_type`). firebase-admin signs a Cloud Storage URL for
    every model file it sends (`TFLiteGCSModelSource`), so the credentials must sign:
    - emulator stacks: anonymous credentials (no token; the emulator has no authentication)
      with an RSA key made in memory for this process, which grants nothing anywhere;
    - Google stacks: `google_credentials()` — impersonated credentials sign through IAM, a
      service-account key signs itself — else Application Default Credentials, unchanged
      (a service-account key or other credentials that can sign; user credentials cannot).
    """
    import firebase_admin
    from firebase_admin import credentials as firebase_credentials

    ml_url = endpoint(target, FIREBASE_ML_ENV)
    storage_url = endpoint(target, STORAGE_ENV)
    ml = firebase_ml_module()
    service_type = _ml_service_type()
    google = "google-" + _access.digest()  # another Access: another app
    name = "/".join(
        ("edge-labeler", target.stack, target.project, ml_url or google, storage_url or google)
    )
    with _firebase_apps_lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass  # not initialised yet
        if ml_url is not None:
            credential: Any = _emulator_credentials_type()(
                f"edge-labeler-emulator@{target.project}.iam.gserviceaccount.com"
            )
        else:
            configured = google_credentials()
            credential = (
                firebase_credentials.ApplicationDefault()
                if configured is None
                else _firebase_credential_type()(configured)
            )
        app = firebase_admin.initialize_app(credential, {"projectId": target.project}, name=name)
        try:
            # firebase_admin.ml finds its service on the app; registering ours first redirects
            # it. Creating it loads the credentials (Application Default Credentials on Google).
            with cloud_errors(f"connecting to Firebase ML for stack '{target.stack}'"):
                app._get_service(ml._ML_ATTRIBUTE, lambda a: service_type(a, ml_url))
        except BaseException:
            firebase_admin.delete_app(app)  # no half-made app for the next call to find
            raise
        return app


@cache
def _firebase_credential_type() -> type:
    """firebase_admin's credential interface around google-auth credentials."""
    from firebase_admin import credentials as firebase_credentials

    class GoogleCredential(firebase_credentials.Base):  # type: ignore[misc]  # untyped base
        def __init__(self, credentials: Credentials) -> None:
            self._credentials = credentials

        def get_credential(self) -> Credentials:
            return self._credentials

    return GoogleCredential


@cache
def _emulator_credentials_type() -> type:  # made here, where google-auth and cryptography load
    """Credentials with no token, but a signer: what signed Cloud Storage URLs need, for the
    emulator only. Made with `(signer_email)`; the RSA key is made in memory per instance."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from google.auth import crypt
    from google.auth.credentials import AnonymousCredentials, Signing

    class EmulatorCredentials(AnonymousCredentials, Signing):
        def __init__(self, signer_email: str) -> None:
            super().__init__()  # type: ignore[no-untyped-call]  # google-auth's is unannotated
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            self._signer: crypt.Signer = crypt.RSASigner.from_string(pem)
            self._signer_email = signer_email

        def sign_bytes(self, message: bytes) -> bytes:
            signature: bytes = self._signer.sign(message)
            return signature

        @property
        def signer_email(self) -> str:
            return self._signer_email

        @property
        def signer(self) -> crypt.Signer:
            return self._signer

    return EmulatorCredentials


@cache
def _ml_service_type() -> type:  # long: the class is made here, where firebase_admin.ml loads
    """firebase-admin's `_MLService` with a base URL per app, and two changes of behaviour.

    - Base URL: `https://firebaseml.googleapis.com/v1beta2/` or the emulator's.
    - firebase-admin 7.7.0's `handle_operation` fetches a model that is still locked with
      `get_model(model_id)` on the *default* app, which fails (or reads another project) for
      named apps; here it reads through this service.
    - Against the emulator, operations are polled every 50 ms (growing to 1 s) instead of
      firebase-admin's 3 s × 1.5^n.
    """
    import firebase_admin
    from firebase_admin import _http_client as firebase_http_client
    from firebase_admin import exceptions as firebase_exceptions

    ml = firebase_ml_module()
    base: Any = ml._MLService  # firebase-admin is untyped

    class TargetMLService(base):  # type: ignore[misc]  # subclasses Any: firebase-admin's class
        _client: Any
        _operation_client: Any

        def __init__(self, app: firebase_admin.App, base_url: str | None) -> None:
            super().__init__(app)
            self._poll_seconds: float | None = None
            if base_url is None:
                return
            for client in (self._client, self._operation_client):
                client.close()
            credential = app.credential.get_credential()
            headers = {"X-FIREBASE-CLIENT": f"fire-admin-python/{firebase_admin.__version__}"}
            root = f"{base_url.rstrip('/')}/v1beta2/"
            self._project_url = f"{root}projects/{self._project_id}/"
            self._client = firebase_http_client.JsonHttpClient(
                credential=credential, headers=headers, base_url=self._project_url
            )
            self._operation_client = firebase_http_client.JsonHttpClient(
                credential=credential, headers=headers, base_url=root
            )
            self._poll_seconds = _EMULATOR_POLL_SECONDS

        def _exponential_backoff(self, current_attempt: int, stop_time: Any) -> None:
            if self._poll_seconds is None:
                super()._exponential_backoff(current_attempt, stop_time)
                return
            delay = min(self._poll_seconds * 1.5**current_attempt, 1.0)
            if stop_time is not None:
                left = (stop_time - datetime.datetime.now()).total_seconds()
                if left <= 0:
                    raise firebase_exceptions.DeadlineExceededError("Polling max time exceeded.")
                delay = min(delay, left)
            time.sleep(delay)

        def handle_operation(
            self, operation: Any, wait_for_operation: bool = False, max_time_seconds: Any = None
        ) -> Any:
            if not isinstance(operation, dict) or operation.get("done"):
                return super().handle_operation(operation)
            op_name = ml._validate_operation_name(operation.get("name"))
            metadata = operation.get("metadata", {})
            if not metadata.get("@type", "").endswith("ModelOperationMetadata"):
                raise TypeError("Unknown type of operation metadata.")
            _, model_id = ml._validate_and_parse_name(metadata.get("name"))
            stop_time = (
                None
                if max_time_seconds is None
                else datetime.datetime.now() + datetime.timedelta(seconds=max_time_seconds)
            )
            attempt = 0
            while wait_for_operation and not operation.get("done"):
                self._exponential_backoff(attempt, stop_time)
                operation = self.get_operation(op_name)
                attempt += 1
            if operation.get("done"):
                return super().handle_operation(operation)
            return self.get_model(model_id)  # still locked: this app's model, as it is now

    return TargetMLService
