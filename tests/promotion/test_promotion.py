"""Promotion from `local` to `staging-emu`: the pin, then the target publishes the identical
artifact (same sha256) without training; a tampered artifact is refused.

Everything runs through the Pulumi SDK's provider host against the emulator.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from components.cli import main
from components.cloud.adapters import open_registry
from components.cloud.clients import CloudTarget
from components.cloud.records import published_path, read_record
from components.cloud.storage import ObjectStore
from components.providers.promoted import PromotedModelProvider, promoted_inputs, promotion_source
from components.spec import load_specs
from tests.fixtures.deployment import deploy_stack
from tests.fixtures.emulator import LOCATION
from tests.fixtures.provider_host import ProviderCallError
from tests.fixtures.trainings import training_operations

STATUS_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "components" / "schemas" / "status.schema.json").read_text()
)
LOCAL = CloudTarget(stack="local", project="promo-local", region=LOCATION, emulator=True)
STAGING = CloudTarget(stack="staging-emu", project="promo-staging", region=LOCATION, emulator=True)
LOCAL_BUCKET, STAGING_BUCKET = "promo-local-data", "promo-staging-data"


def _object(uri: str) -> str:
    return uri.removeprefix("gs://").partition("/")[2]


def _promote(project: Path) -> int:
    """`edgectl promote --model digits --from local --to staging-emu`; its exit code."""
    args = ["--model", "digits", "--from", "local", "--to", "staging-emu"]
    return main(["promote", *args, "--project-dir", str(project)])


@pytest.fixture(scope="module")
def local(host, project):
    """The `local` stack deployed: trained, gated, exported, published."""
    run = deploy_stack(host, project, "local")
    assert run.failed == {} and run.skipped == {}
    return run.outputs


@pytest.fixture(scope="module")
def pinned(local, project):
    overlay = project / "specs" / "envs" / "staging-emu.yaml"
    before = overlay.read_text()
    code = _promote(project)
    assert code == 0
    return before, overlay.read_text()


def test_promote_writes_only_the_pin_keeping_comments_and_formatting(local, pinned, capsys):
    before, after = pinned
    fingerprint = local["digits-model"]["fingerprint"]
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    assert diff == [
        "+  # Pinned by `edgectl promote`: gated on the `from` stack, copied by digest, not "
        "retrained.",
        f'+  promoted: {{from: local, fingerprint: "{fingerprint}"}}',
    ]
    # Inserted at the end of the Model's spec, right after its last line.
    lines = after.splitlines()
    assert lines[lines.index("    minPrecision: 0.31   # keep in sync with prod") + 2].startswith(
        "  promoted:"
    )


@pytest.fixture(scope="module")
def staging(host, project, local, pinned):
    """The `staging-emu` stack deployed with the pin; and local's training count before."""
    local_trainings = len(training_operations(LOCAL))
    model = load_specs(project / "specs", "staging-emu").models["digits"]
    assert model.promoted is not None and model.promoted.from_stack == "local"
    run = deploy_stack(host, project, "staging-emu")
    assert run.failed == {} and run.skipped == {}
    return run, local_trainings


def test_target_publishes_the_identical_artifact_without_training(local, staging):
    run, local_trainings = staging
    assert "digits-model" not in run.outputs and "digits-promoted" in run.outputs
    assert training_operations(STAGING) == []  # nothing trained on the target stack
    assert len(training_operations(LOCAL)) == local_trainings

    export = local["digits-export"]
    promoted = run.outputs["digits-promoted"]
    assert promoted["modelSha256"] == export["modelSha256"]
    assert promoted["modelFile"].startswith(f"gs://{STAGING_BUCKET}/")
    copy = ObjectStore(STAGING, STAGING_BUCKET).read(_object(promoted["modelFile"]))
    assert hashlib.sha256(copy).hexdigest() == export["modelSha256"]
    assert promoted["threshold"] == local["digits-gate"]["threshold"]
    assert promoted["labels"] == local["digits-gate"]["labels"]

    publication = run.outputs["digits-publication"]
    assert publication["servedSha256"] == export["modelSha256"]
    served = open_registry("firebase-ml", STAGING, STAGING_BUCKET).read("promo_digits")
    assert served.published and served.sha256 == export["modelSha256"]
    assert served.threshold == pytest.approx(local["digits-gate"]["threshold"])
    # The two stacks publish separately: local's model is untouched.
    assert open_registry("firebase-ml", LOCAL, LOCAL_BUCKET).read("promo_digits").published

    store = ObjectStore(STAGING, STAGING_BUCKET)
    record = read_record(store, "digits", promoted["fingerprint"])
    assert record.promoted_from == "local" and record.stack == "staging-emu"
    assert record.artifact("tflite").sha256 == export["modelSha256"]
    assert store.read_json(published_path("digits"))["fingerprint"] == promoted["fingerprint"]


def test_history_lists_what_each_stack_trained_promoted_and_published(
    project, local, pinned, capsys
):
    # (runs after the target's deployment: module order)
    assert (
        main(["history", "--model", "digits", "--stack", "local", "--project-dir", str(project)])
        == 0
    )
    text = capsys.readouterr().out
    fingerprint = local["digits-model"]["fingerprint"]
    assert f"{fingerprint[:19]}…" in text and "trained; ← published now since" in text
    assert (
        main(
            [
                "history",
                "--model",
                "digits",
                "--stack",
                "staging-emu",
                "--project-dir",
                str(project),
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    (record,) = report["records"]
    assert record["promoted_from"] == "local" and record["fingerprint"] == fingerprint
    assert record["published"][0]["current"] is True
    assert report["publications"][-1]["fingerprint"] == fingerprint


def _status(project: Path, *args: str) -> int:
    stacks = [arg for stack in ("local", "staging-emu") for arg in ("--stack", stack)]
    return main(["status", *stacks, "--project-dir", str(project), *args])


def test_status_shows_what_each_stack_publishes_and_where_it_came_from(
    project, local, staging, capsys
):
    # (runs after the target's deployment: module order)
    fingerprint = local["digits-model"]["fingerprint"]
    gate = local["digits-gate"]
    assert _status(project, "--format", "json") == 0
    entries = json.loads(capsys.readouterr().out)
    Draft202012Validator(STATUS_SCHEMA).validate(entries)
    report = {entry["stack"]: entry for entry in entries}
    assert list(report) == ["local", "staging-emu"]
    for stack, origin, source in [("local", "trained", None), ("staging-emu", "promoted", "local")]:
        entry = report[stack]
        assert entry["error"] is None and entry["drift"] == []
        (model,) = entry["models"]
        published = model["published"]
        assert published["fingerprint"] == fingerprint
        assert (published["origin"], published["promotedFrom"]) == (origin, source)
        assert published["displayName"] == "promo_digits" and published["publishedAt"]
        assert published["threshold"] == gate["threshold"]
        assert published["precision"] == gate["precision"]
        assert published["recall"] == gate["recall"]
        (publication,) = model["publications"]
        assert publication["live"]["published"] is True
        assert publication["live"]["sha256"] == local["digits-export"]["modelSha256"]

    assert _status(project) == 0
    text = capsys.readouterr().out
    assert "Stack local (project promo-local, emulator)" in text
    assert "Stack staging-emu (project promo-staging, emulator)" in text
    assert text.count("    published as promo_digits since ") == 2
    assert text.count(f"      {fingerprint}\n") == 2
    local_part, staging_part = text.split("Stack staging-emu")
    assert ": trained on this stack\n" in local_part
    assert ": promoted from local\n" in staging_part
    assert text.count("drift: none") == 2


def test_status_reports_a_registry_changed_outside_the_tool_as_drift(
    project, local, staging, capsys
):
    from components.cloud.clients import firebase_app, firebase_ml_module

    ml, app = firebase_ml_module(), firebase_app(STAGING)
    model_id = staging[0].outputs["digits-publication"]["registryName"].rsplit("/", 1)[1]
    ml.unpublish_model(model_id, app=app)  # by hand, in the console
    try:
        assert _status(project) == 1
        out = capsys.readouterr().out
        local_part, staging_part = out.split("Stack staging-emu")
        assert "drift: none" in local_part
        assert (
            "Publication digits: the bucket records it as published, but firebase-ml "
            "'promo_digits' is not published" in staging_part
        )
        assert "firebase-ml promo_digits: uploaded, not published" in staging_part
    finally:
        ml.publish_model(model_id, app=app)


def test_status_reports_a_pointer_edited_by_hand_as_that_models_drift(project, staging, capsys):
    store = ObjectStore(LOCAL, LOCAL_BUCKET)
    pointer = store.read(published_path("digits"))
    store.write(published_path("digits"), b"[]")
    try:
        assert _status(project) == 1
        local_part, staging_part = capsys.readouterr().out.split("Stack staging-emu")
        assert (
            "Model digits: gs://promo-local-data/models/digits/published.json, a publication "
            in local_part
        )
        assert "    published: nothing" in local_part and "drift: none" in staging_part
    finally:
        store.write(published_path("digits"), pointer)


def test_status_reports_a_pin_not_deployed_yet(project, local, pinned, staging, capsys):
    overlay = project / "specs" / "envs" / "staging-emu.yaml"
    fingerprint = local["digits-model"]["fingerprint"]
    other = "sha256:" + "ab" * 32
    overlay.write_text(pinned[1].replace(fingerprint, other))
    try:
        assert _status(project) == 1
        assert (
            f"Model digits: pinned to {other} from local, but the bucket records {fingerprint} "
            "as published (the stack was not deployed since the pin)"
        ) in capsys.readouterr().out.split("Stack staging-emu")[1]
    finally:
        overlay.write_text(pinned[1])


def _unmet(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


def test_promotion_refused_when_the_target_acceptance_is_not_met(
    host, project, local, pinned, capsys
):
    overlay = project / "specs" / "envs" / "staging-emu.yaml"
    strict = pinned[1].replace(
        "    minPrecision: 0.31", "    perLabel: {three: {minRecall: 0.5}}\n    minPrecision: 0.31"
    )
    overlay.write_text(strict)
    try:
        code = _promote(project)
        assert code == 1
        err = capsys.readouterr().err
        assert "from stack 'local' does not meet the acceptance of stack 'staging-emu':" in err
        assert overlay.read_text() == strict  # nothing written
        # The PromotedModel provider refuses the pinned record with the same check and words.
        model = load_specs(project / "specs", "staging-emu").models["digits"]
        props = {
            **promoted_inputs(model, STAGING, promotion_source(model, project)),
            "bucket": STAGING_BUCKET,
        }
        urn = host.urn("edge-labeler:PromotedModel", "digits-strict")
        inputs, _ = host.check(urn, host.inputs(PromotedModelProvider(), props))
        with pytest.raises(ProviderCallError) as info:
            host.create(urn, inputs)
        assert "does not meet the acceptance of stack 'staging-emu'" in info.value.details
        # (the model gated on `local` is perfect: a label it lacks is what it cannot meet)
        assert (
            _unmet(info.value.details)
            == _unmet(err)
            == ["  - label 'three' (perLabel) is not a label of this model; labels: one, two, zero"]
        )
    finally:
        overlay.write_text(pinned[1])


@pytest.mark.parametrize(
    ("target", "config", "refusal"),
    [
        (
            "cloud",
            "config:\n  edge-labeler:project: promo-cloud\n",
            "'local' is an emulator stack (edge-labeler:emulator: true in Pulumi.local.yaml): it "
            "is never a source for the non-emulator stack 'cloud', whatever "
            "edge-labeler:promoteFrom declares; stack 'cloud' accepts no promotion: set "
            "edge-labeler:promoteFrom in Pulumi.cloud.yaml to the stacks it may take models from",
        ),
        (
            "cloud",
            "config:\n  edge-labeler:project: promo-cloud\n  edge-labeler:promoteFrom: [local]\n",
            "edge-labeler:promoteFrom[0]: 'local' is an emulator stack (edge-labeler:emulator: "
            "true in Pulumi.local.yaml): it is never a source for the non-emulator stack 'cloud'",
        ),
        (
            "qa-emu",
            'config:\n  edge-labeler:project: promo-qa\n  edge-labeler:emulator: "true"\n',
            "'local' is not a promotion source of stack 'qa-emu'; stack 'qa-emu' accepts no "
            "promotion: set edge-labeler:promoteFrom in Pulumi.qa-emu.yaml to the stacks it may "
            "take models from",
        ),
    ],
    ids=["laptop-to-cloud", "laptop-to-cloud-declared", "undeclared"],
)
def test_a_gated_record_off_the_declared_path_is_refused(
    project, local, capsys, target, config, refusal
):
    stack_file = project / f"Pulumi.{target}.yaml"
    overlay = project / "specs" / "envs" / f"{target}.yaml"
    stack_file.write_text(config)
    try:
        args = ["--model", "digits", "--from", "local", "--to", target]
        code = main(["promote", *args, "--project-dir", str(project)])
        err = capsys.readouterr().err
        assert (code, overlay.exists()) == (1, False), err  # refused, nothing written
        assert refusal in err and "Traceback" not in err
    finally:
        stack_file.unlink()
        overlay.unlink(missing_ok=True)


def test_a_tampered_artifact_is_refused(host, project, local, pinned, capsys):
    store = ObjectStore(LOCAL, LOCAL_BUCKET)
    name = _object(local["digits-export"]["modelFile"])
    original = store.read(name)
    tampered = original[:-16] + bytes(16)
    store.write(name, tampered)
    try:
        model = load_specs(project / "specs", "staging-emu").models["digits"]
        props = {
            **promoted_inputs(model, STAGING, promotion_source(model, project)),
            "bucket": STAGING_BUCKET,
        }
        urn = host.urn("edge-labeler:PromotedModel", "digits-tampered")
        inputs, failures = host.check(urn, host.inputs(PromotedModelProvider(), props))
        assert failures == []
        with pytest.raises(ProviderCallError) as info:
            host.create(urn, inputs)
        message = info.value.details
        assert hashlib.sha256(tampered).hexdigest() in message
        assert local["digits-export"]["modelSha256"] in message
        assert "refusing to promote it" in message and "Traceback" not in message

        code = _promote(project)
        assert code == 1
        assert "the artifact changed after it passed its gate" in capsys.readouterr().err
    finally:
        store.write(name, original)
