"""Secret access settings through the SDK's provider host: the engine hands the stack's
configuration (secrets decrypted) to the host's Configure; the providers authenticate with it
and show it nowhere — not in their outputs, progress lines or error messages."""

import json
from dataclasses import replace

import pytest
from google.auth import impersonated_credentials
from pulumi.runtime import rpc

from components.cloud import clients
from components.providers.bucket import BucketProvider
from tests.fixtures.credentials import service_account_key
from tests.fixtures.emulator import PROJECT
from tests.fixtures.provider_host import ProviderCallError, ProviderHost

SERVICE_ACCOUNT = "deployer-7f3a@secret-project.iam.gserviceaccount.com"
NOT_A_KEY = "not-a-key-5e2b9d"


def _secret(value: str) -> dict[str, str]:
    """A config value as the engine sends a secret over gRPC."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def _bucket_inputs(target, name: str) -> dict:
    return {
        "cloud": target.as_inputs(clients.STORAGE),
        "bucketName": name,
        "location": "US-CENTRAL1",
        "storageClass": "STANDARD",
        "versioning": False,
        "deleteAfterDays": None,
        "labels": {},
        "forceDestroy": True,
    }


def test_secrets_reach_the_providers_and_no_output_or_log(project, target, emulator):
    config = {
        "edge-labeler:project": PROJECT,
        "edge-labeler:impersonateServiceAccount": _secret(SERVICE_ACCOUNT),
        "edge-labeler:credentials": _secret(NOT_A_KEY),
    }
    # A Google stack's bucket: the host has no emulator endpoint for Cloud Storage.
    with ProviderHost(cwd=project, env={clients.STORAGE_ENV: ""}) as host:
        host.configure(config)
        urn = host.urn("edge-labeler:Bucket", "secret-data")
        google = replace(target, emulator=False)
        props = host.inputs(BucketProvider(), _bucket_inputs(google, "edge-labeler-secret-data"))
        inputs, failures = host.check(urn, props)
        assert failures == []
        with pytest.raises(ProviderCallError) as refused:
            host.create(urn, inputs)
        # The host read the secret key (it is not a key) and says so without repeating it.
        assert "edge-labeler:credentials is not a service-account key" in refused.value.details
        assert "Traceback" not in refused.value.details
        shown = refused.value.details + "\n".join(host.output) + json.dumps(inputs, default=str)
        for needle in (NOT_A_KEY, SERVICE_ACCOUNT, "deployer-7f3a"):
            assert needle not in shown


def test_the_emulator_ignores_access_and_outputs_hold_no_secret(project, target, emulator):
    config = {
        "edge-labeler:project": PROJECT,
        "edge-labeler:impersonateServiceAccount": _secret(SERVICE_ACCOUNT),
        "edge-labeler:credentials": _secret(service_account_key("secret-project")),
    }
    with ProviderHost(cwd=project) as host:
        host.configure(config)
        urn = host.urn("edge-labeler:Bucket", "secret-data")
        props = host.inputs(BucketProvider(), _bucket_inputs(target, f"{PROJECT}-secret-data"))
        inputs, failures = host.check(urn, props)
        assert failures == []
        id_, outs = host.create(urn, inputs)
        assert id_ == f"{PROJECT}-secret-data"
        assert not host.diff(urn, id_, outs, inputs).changes
        host.delete(urn, id_, outs)
        shown = json.dumps(outs, default=str) + "\n".join(host.output)
        for needle in (SERVICE_ACCOUNT, "deployer-7f3a", "BEGIN PRIVATE KEY"):
            assert needle not in shown


def test_impersonation_on_top_of_a_key_for_google_clients(monkeypatch):
    monkeypatch.delenv(clients.STORAGE_ENV, raising=False)  # a Google stack's client
    key = service_account_key("secret-project")
    clients.use_access(
        {
            "edge-labeler:impersonateServiceAccount": SERVICE_ACCOUNT,
            "edge-labeler:credentials": key,
        }
    )
    try:
        credentials = clients.google_credentials()
        assert isinstance(credentials, impersonated_credentials.Credentials)
        assert credentials.service_account_email == SERVICE_ACCOUNT
        assert credentials._source_credentials.service_account_email == (
            "ci@secret-project.iam.gserviceaccount.com"
        )
        assert SERVICE_ACCOUNT not in repr(clients._access) and "PRIVATE" not in repr(
            clients._access
        )
        google = clients.CloudTarget(stack="dev", project="secret-project", emulator=False)
        storage = clients.storage_client(google)
        assert isinstance(storage._credentials, impersonated_credentials.Credentials)
    finally:
        clients.use_access({})
    assert clients.google_credentials() is None  # ADC, found by each client library
