"""The committed example (specs/) is valid on every stack and loads into typed documents."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.cli import build_parser, main
from components.spec import (
    ExportFormat,
    Kind,
    Location,
    Model,
    OptimizeFor,
    SourceKind,
    Target,
    ThresholdKind,
    load_specs,
)

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = (
    "valid: 1 Bucket, 1 Dataset, 1 Model, 1 Publication in specs "
    "(base + stacks dev, local, prod, staging)"
)


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


def test_validate_example_exits_0_with_one_line_summary(in_repo, capsys):
    assert main(["validate", "specs"]) == 0
    assert capsys.readouterr().out.splitlines() == [SUMMARY]


def test_edgectl_console_script_validates_the_example(in_repo):
    edgectl = Path(sys.executable).parent / "edgectl"
    assert edgectl.exists(), "install the package (make venv) so the edgectl script exists"
    done = subprocess.run(
        [str(edgectl), "validate", "specs"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, SUMMARY, "")


def test_validate_json_for_one_stack(in_repo, capsys):
    assert main(["validate", "--stack", "prod", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "valid": True,
        "directory": "specs",
        "stacks": ["prod"],
        "counts": {"Bucket": 1, "Dataset": 1, "Model": 1, "Publication": 1, "Rollout": 0},
        "errors": [],
        "warnings": [],
    }


def test_validate_reports_errors_as_json_objects(spec_dir, capsys):
    (spec_dir / "bad.yaml").write_text(
        "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: b}\nspec: {versioning: 1}\n"
    )
    assert main(["validate", "--format", "json", str(spec_dir)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["counts"] is None
    assert report["errors"] == [
        {
            "file": "specs/bad.yaml",
            "line": 4,
            "column": 20,
            "severity": "error",
            "kind": "Bucket",
            "name": "b",
            "field": "spec.versioning",
            "stack": None,
            "message": "expected true or false, got the number 1",
            "text": "specs/bad.yaml:4:20: Bucket 'b' spec.versioning: expected true or false, "
            "got the number 1",
        }
    ]


def test_validate_text_lists_errors_of_every_stack_once(spec_dir, capsys):
    envs = spec_dir / "envs"
    envs.mkdir()
    for stack in ("dev", "prod"):
        (envs / f"{stack}.yaml").write_text(
            "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: ml-data}\n"
            f"spec: {{storageClass: {'COLD' if stack == 'prod' else 'NEARLINE'}}}\n"
        )
    (spec_dir / "bad.yaml").write_text("kind: Bucket\n")
    assert main(["validate", str(spec_dir)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "specs/bad.yaml:1:1: Bucket apiVersion: required field is missing",
        "specs/bad.yaml:1:1: Bucket metadata: required field is missing",
        "specs/bad.yaml:1:1: Bucket spec: required field is missing",
        "specs/envs/prod.yaml:4:22: Bucket 'ml-data' spec.storageClass: 'COLD' is not one of "
        "STANDARD, NEARLINE, COLDLINE, ARCHIVE (did you mean 'COLDLINE'?)",
        "invalid: 4 errors in 2 file(s) (base + stacks dev, prod)",
    ]


def test_missing_directory_is_an_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{tmp_path / 'nope'}: spec directory not found"
    )


def test_help_lists_every_subcommand_with_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    listed = [line.split()[0] for line in out.split("commands:")[1].splitlines()[2:] if line]
    assert listed == list(subparsers.choices) and "validate" in listed
    for choice in subparsers._choices_actions:
        assert f"{choice.dest}  " in out and choice.help and "\n" not in choice.help


def test_no_subcommand_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: edgectl" in capsys.readouterr().err


def test_example_loads_into_typed_immutable_documents(in_repo):
    specs = load_specs(Path("specs"))
    bucket = specs.buckets["ml-data"]
    dataset = specs.datasets["digits"]
    model = specs.models["digits"]
    publication = specs.publications["digits"]

    assert bucket.cloud_name("local-project") == "local-project-ml-data"
    assert dataset.source.kind == SourceKind.ZIP
    assert dataset.source.path == ROOT / "specs" / "data" / "digits.zip"
    assert (dataset.split.train, dataset.split.validation, dataset.split.test) == (0.8, 0.1, 0.1)
    assert model.optimize_for == OptimizeFor.LATENCY
    assert model.optimize_for.automl_model_type == "mobile-low-latency-1"
    assert model.optimize_for.vertex_model_type == "MOBILE_TF_LOW_LATENCY_1"
    assert model.budget.milli_node_hours == 1000
    assert model.export == (ExportFormat.TFLITE,)
    assert model.acceptance.threshold.kind == ThresholdKind.MAXIMIZE
    assert model.acceptance.threshold.metric == "f1"
    assert model.trained_here and model.cloud_display_name("dev") == "digits_dev"
    assert publication.target == Target.FIREBASE_ML
    assert publication.bucket == "ml-data"  # defaults to the dataset's bucket
    assert model.location_of("spec.budget.nodeHours") == Location("specs/digits.yaml", 61, 16)
    assert model.spec["export"] == ("tflite",)

    assert [(d.kind, d.name) for d in specs.dependency_order()] == [
        (Kind.BUCKET, "ml-data"),
        (Kind.DATASET, "digits"),
        (Kind.MODEL, "digits"),
        (Kind.PUBLICATION, "digits"),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        specs.models["other"] = model  # type: ignore[index]
    with pytest.raises(TypeError):
        model.spec["seed"] = 1  # type: ignore[index]


def test_prod_overlay_tightens_the_gate(in_repo):
    base = load_specs(Path("specs")).models["digits"]
    prod = load_specs(Path("specs"), "prod").models["digits"]
    assert (base.acceptance.min_precision, prod.acceptance.min_precision) == (0.85, 0.9)
    assert prod.retain_on_delete and not base.retain_on_delete
    assert prod.acceptance.no_worse_than == "published"
    assert set(prod.acceptance.per_label) == {"eight", "nine"}
    # training settings are identical, so staging's gated model is the one prod pins
    assert (prod.optimize_for, prod.budget, prod.export) == (
        base.optimize_for,
        base.budget,
        base.export,
    )
    # values patched by the overlay point into the overlay file
    assert prod.location_of("spec.acceptance.minAuPrc").file == "specs/envs/prod.yaml"


def test_baseModel_and_promotion_load(spec_dir):
    (spec_dir / "weights").mkdir()
    (spec_dir / "weights" / "base.keras").write_bytes(b"")
    (spec_dir / "m.yaml").write_text(
        "apiVersion: edge-labeler/v1\nkind: Model\nmetadata: {name: small}\nspec:\n"
        "  dataset: digits\n  budget: {nodeHours: 2.5}\n"
        "  baseModel: {path: weights/base.keras}\n"
        "  acceptance: {threshold: {precisionAtLeast: 0.9}}\n---\n"
        "apiVersion: edge-labeler/v1\nkind: Model\nmetadata: {name: big}\nspec:\n"
        "  dataset: digits\n  budget: {nodeHours: 1}\n  baseModel: {model: small}\n"
        "  deploy: {}\n  acceptance: {threshold: {fixed: 0.5}}\n"
        f"  promoted: {{from: staging, fingerprint: 'sha256:{'a' * 64}'}}\n"
    )
    specs = load_specs(spec_dir)
    small, big = specs.models["small"], specs.models["big"]
    assert isinstance(small, Model) and small.base_model is not None
    assert small.base_model.path == (spec_dir / "weights" / "base.keras").resolve()
    assert small.budget.milli_node_hours == 2500
    assert small.acceptance.threshold.value == 0.9
    assert big.deploy is not None and big.deploy.nodes == 1
    assert big.promoted is not None and big.promoted.from_stack == "staging"
    assert not big.trained_here
    order = [d.name for d in specs.dependency_order() if d.kind == Kind.MODEL]
    assert order == ["small", "big"]
    assert specs.dependencies(big) == (specs.datasets["digits"], small)


def test_warnings_are_reported_separately_and_do_not_fail(spec_dir, capsys):
    zip_path = (spec_dir / "data" / "digits.zip").resolve()
    (spec_dir / "p.yaml").write_text(
        "apiVersion: edge-labeler/v1\nkind: Model\nmetadata: {name: m}\nspec:\n"
        "  dataset: digits\n  budget: {nodeHours: 1}\n"
        "  acceptance: {threshold: {maximize: f1}}\n---\n"
        "apiVersion: edge-labeler/v1\nkind: Publication\nmetadata: {name: p}\nspec:\n"
        "  model: m\n  target: firebase-ml\n  displayName: 2digits-app\n---\n"
        "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: abs}\nspec:\n"
        f"  bucket: ml-data\n  source: {{zip: '{zip_path}'}}\n"
    )
    (spec_dir / "old.yml").write_text("not: loaded\n")
    specs = load_specs(spec_dir, "qa")
    assert [w.render() for w in specs.warnings] == [
        "specs/envs/qa.yaml: warning: no overlay for stack 'qa': the base specs apply "
        "unchanged (overlays exist for: none)",
        "specs/old.yml: warning: ignored: spec files end in .yaml (rename it to load it)",
        "specs/p.yaml:15:16: warning: Publication 'p' spec.displayName: '2digits-app' passes "
        "the firebase-admin SDK's check, but the Firebase ML REST reference allows only "
        "letters, digits and '_', starting with a letter",
        "specs/p.yaml:22:17: warning: Dataset 'abs' spec.source.zip: an absolute path ties "
        "the specs to one machine; use a path relative to this file's directory",
    ]
    assert specs.datasets["abs"].source.path == zip_path
    assert main(["validate", str(spec_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[-1].startswith("valid: 1 Bucket, 2 Dataset, 1 Model")
