"""Secrets in stack config: the program runs with them and they reach no input or output.

`pulumi config set --secret edge-labeler:impersonateServiceAccount …` and
`… edge-labeler:credentials < key.json` reach the program as values the runtime marks secret.
The program reads neither value (the providers read them from their configure request), so
every request it sends the engine — registrations with their inputs, component and stack
outputs, invokes — is grepped for them.
"""

import json

import pytest

from tests.program.run_program import program_result

SERVICE_ACCOUNT = "deployer-7f3a@secret-project.iam.gserviceaccount.com"
KEY = json.dumps({"type": "service_account", "private_key": "-----BEGIN 9c1e8d-----"})
SECRETS = {
    "edge-labeler:impersonateServiceAccount": SERVICE_ACCOUNT,
    "edge-labeler:credentials": KEY,
}


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_secret_access_settings_appear_in_no_input_or_output(stack):
    result = program_result(stack, secrets=SECRETS)
    assert result["error"] is None, result["error"]
    assert any(r["type"].endswith(":TrainedModel") for r in result["resources"])
    wire = result["wire"]
    assert "digits-model" in wire and "outputs" in wire  # what is grepped is the real traffic
    for needle in (SERVICE_ACCOUNT, "deployer-7f3a", "9c1e8d", "secret-project"):
        assert needle not in wire
        assert needle not in json.dumps(result["resources"])


def test_a_secret_where_none_is_allowed_is_refused_by_name_without_its_value():
    result = program_result("local", secrets={"edge-labeler:region": "europe-west4"})
    assert "edge-labeler:region: must be plain text, not a secret" in result["error"]
    assert "europe-west4" not in result["error"]
