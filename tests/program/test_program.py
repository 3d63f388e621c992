"""Program layer: `__main__.py` under `pulumi.runtime.set_mocks`, one process per stack."""

from functools import cache

import pytest

from tests.program.run_program import program_result

COMPONENT = "edge-labeler:index:"
DYNAMIC = "pulumi-python:dynamic/edge-labeler:"


@cache
def declared(stack: str) -> dict[tuple[str, str], dict]:
    """(type, name) → what the program registered on `stack`."""
    result = program_result(stack)
    assert result["error"] is None, result["error"]
    return {(r["type"], r["name"]): r for r in result["resources"]}


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _parent_type(resource: dict) -> str:
    return resource["parent"].rsplit("::", 2)[-2].rsplit("$", 1)[-1]


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_every_spec_becomes_a_component_with_its_children(stack):
    r = declared(stack)
    for kind, name in [("Bucket", "ml-data"), ("Dataset", "digits"), ("Model", "digits")]:
        assert (COMPONENT + kind, name) in r
    dataset = r[(DYNAMIC + "Dataset", "digits-dataset")]
    assert _parent_type(dataset) == COMPONENT + "Dataset" and _short(dataset["parent"]) == "digits"
    assert [_short(d) for d in dataset["dependencies"]] == ["ml-data-bucket"]
    assert dataset["serialized_provider"] is True  # the provider pickled by the SDK
    assert dataset["inputs"]["cloud"]["stack"] == stack  # never pulumi.get_stack() in the host
    # None values are not sent to the engine; the path is relative to the project.
    assert dataset["inputs"]["source"] == {"kind": "zip", "path": "specs/data/digits.zip"}


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_a_model_is_trained_gated_then_exported(stack):
    r = declared(stack)
    trained = r[(DYNAMIC + "TrainedModel", "digits-model")]
    gate = r[(DYNAMIC + "AcceptanceGate", "digits-gate")]
    export = r[(DYNAMIC + "ModelExport", "digits-export")]
    for child in (trained, gate, export):
        assert _parent_type(child) == COMPONENT + "Model" and _short(child["parent"]) == "digits"
        assert child["serialized_provider"] is True
    assert {_short(d) for d in trained["dependencies"]} == {"ml-data-bucket", "digits-dataset"}
    assert "digits-model" in {_short(d) for d in gate["dependencies"]}
    # The export waits for the gate: nothing that failed its gate is exported or published.
    assert {"digits-gate", "digits-model"} <= {_short(d) for d in export["dependencies"]}
    assert trained["inputs"]["modelType"] == "mobile-low-latency-1"
    assert trained["inputs"]["budgetMilliNodeHours"] == 1000
    assert gate["inputs"]["criteria"]["policy"] in ("maximize", "fixed", "precisionAtLeast")


def test_prod_retains_models_and_gates_against_what_it_publishes():
    r = declared("prod")
    assert r[(DYNAMIC + "TrainedModel", "digits-model")]["inputs"]["retainOnDelete"] is True
    criteria = r[(DYNAMIC + "AcceptanceGate", "digits-gate")]["inputs"]["criteria"]
    assert criteria["no_worse_than_published"] is True
    local = declared("local")[(DYNAMIC + "AcceptanceGate", "digits-gate")]["inputs"]["criteria"]
    assert criteria["min_precision"] > local["min_precision"]  # prod is stricter


def test_local_stack_uses_the_emulator_bucket():
    bucket = declared("local")[(DYNAMIC + "Bucket", "ml-data-bucket")]
    assert bucket["inputs"]["cloud"]["emulator"] is True
    assert bucket["inputs"]["bucketName"] == "local-project-ml-data"
    assert bucket["inputs"]["forceDestroy"] is True  # specs/envs/local.yaml: disposable data


@pytest.mark.parametrize(("stack", "protect"), [("dev", False), ("prod", True)])
def test_gcp_stacks_declare_a_private_bucket_and_training_access(stack, protect):
    r = declared(stack)
    bucket = r[("gcp:storage/bucket:Bucket", "ml-data-bucket")]
    assert bucket["protect"] is protect
    assert bucket["inputs"]["uniformBucketLevelAccess"] is True
    assert bucket["inputs"]["publicAccessPrevention"] == "enforced"
    assert bucket["inputs"]["forceDestroy"] is False
    access = r[("gcp:storage/bucketIAMMember:BucketIAMMember", "ml-data-training-access")]
    assert access["inputs"]["role"] == "roles/storage.objectAdmin"
    assert access["inputs"]["member"] == (
        "serviceAccount:service-123456789012@gcp-sa-aiplatform.iam.gserviceaccount.com"
    )
    assert _short(access["parent"]) == "ml-data"


@pytest.mark.parametrize(("stack", "protect"), [("local", False), ("dev", False), ("prod", True)])
def test_publications_depend_on_the_gate_and_are_protected_on_prod(stack, protect):
    r = declared(stack)
    publication = r[(DYNAMIC + "Publication", "digits-publication")]
    assert _parent_type(publication) == COMPONENT + "Publication"
    assert publication["protect"] is protect
    assert {"digits-gate", "digits-export"} <= {_short(d) for d in publication["dependencies"]}
    assert publication["inputs"]["target"] == "firebase-ml"
    assert publication["inputs"]["displayName"] == "digits_classifier"
