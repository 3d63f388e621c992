"""`edgectl predict` and `edgectl download` on the example project, rehearsed on the emulator.

The example specs (`specs/`, stack `local`) are deployed once on the session's emulator by the
rehearsal's code (the same providers, in dependency order: train → gate → export → record →
publish). Training follows an epoch budget, so the model is the same on any machine. Then:
- `predict` labels the held-out (TEST split) images with the same top-1 as the gate's
  evaluation: the confusion matrix built from predict's answers is the evaluation's, and 20 of
  them get the evaluator's own scores;
- `download` writes files whose sha256 match the registry record;
- the exported model.tflite carries TF Lite metadata that a metadata reader reads back;
- `--online` asks the deployed model (AutoML PredictionService) and gets the local answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from components.cli import main
from components.cloud.records import read_record
from components.data.manifest import SplitSpec, scan_local
from components.predict import Predictor
from components.promotion.promote import stack_model
from components.review.plan import scan_cache_in
from components.review.rehearsal import RevisionOutcome, rehearse_revision
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.emulator import patched_environ
from tflite_metadata import read_metadata

HELD_OUT = 20


@pytest.fixture(scope="module")
def project(example_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project (stack files and specs), as a new user has it."""
    root = tmp_path_factory.mktemp("example") / "project"
    shutil.copytree(example_repo, root)
    return root


@pytest.fixture(scope="module")
def rehearsed(project: Path, emulator, tmp_path_factory) -> RevisionOutcome:
    # 1 node hour = 6 epochs: the same model on any machine, however busy.
    cache = tmp_path_factory.mktemp("scan-cache")
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "6"}), scan_cache_in(cache):
        outcome = rehearse_revision(project, "local", "example", True, log=lambda _: None)
    assert outcome.errors == () and outcome.deployment is not None
    assert outcome.deployment.failed == {}, outcome.deployment.failed
    return outcome


def _edgectl(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def test_images(project: Path, tmp_path_factory) -> list[tuple[Path, str]]:
    """Every TEST-split image of the example dataset, written to files, with its label."""
    manifest, items = scan_local(
        "zip",
        project / "specs" / "data" / "digits.zip",
        classification="multiclass",
        split=SplitSpec(0.8, 0.1, 0.1, 0),
        use_cache=False,
    )
    out = tmp_path_factory.mktemp("held-out")
    images = []
    for entry in manifest.entries:
        if entry.split == "TEST":
            path = out / entry.labels[0] / Path(entry.source).name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(items[entry.source].read())
            images.append((path, entry.labels[0]))
    assert len(images) >= HELD_OUT
    return images


def _record(project: Path):
    store = stack_model(project, "local", "digits").store
    pointer = store.read_json("models/digits/published.json")
    return store, read_record(store, "digits", pointer["fingerprint"])


def test_predict_gives_the_gates_top1_on_the_held_out_images(
    rehearsed: RevisionOutcome, project: Path, test_images
):
    outcome = rehearsed.models["digits"]
    assert outcome.gate is not None and outcome.gate.passed
    code, out, err = _edgectl(
        "predict", "--stack", "local", "--model", "digits", "--project-dir", str(project),
        "--threshold", "0", "--top", "1", "--format", "json",
        str(test_images[0][0].parent.parent),
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["model"]["fingerprint"] == outcome.fingerprint
    top1 = {r["image"]: r["labels"][0]["label"] for r in report["images"]}
    assert len(top1) == len(test_images)
    # The evaluation's confusion matrix (TEST split, top-scoring label) is predict's.
    evaluation = outcome.evaluations.overall
    labels = list(evaluation.confusion_labels)
    rows = [[0] * len(labels) for _ in labels]
    for path, truth in test_images:
        rows[labels.index(truth)][labels.index(top1[str(path)])] += 1
    assert tuple(map(tuple, rows)) == evaluation.confusion_rows
    assert sum(map(sum, rows)) == evaluation.example_count


def test_predict_scores_are_the_evaluators_on_20_images(
    rehearsed: RevisionOutcome, project: Path, test_images, tmp_path
):
    """The evaluator (emulator/core/evaluator.py) scores with its Predictor on the model
    directory: the same 20 images get the same scores from `edgectl predict`."""
    from emulator.core.predictor import Predictor as EvaluatorPredictor

    store, record = _record(project)
    artifact = record.artifact("tflite")
    model_dir = tmp_path / "export"
    model_dir.mkdir()
    prefix = artifact.directory.removeprefix(f"gs://{store.bucket_name}/")
    for name in ("model.tflite", "dict.txt", "tflite_metadata.json"):
        (model_dir / name).write_bytes(store.read(prefix + name))
    evaluator = EvaluatorPredictor(model_dir)
    chosen = test_images[:HELD_OUT]
    code, out, err = _edgectl(
        "predict", "--stack", "local", "--model", "digits", "--project-dir", str(project),
        "--threshold", "0", "--format", "json", *(str(p) for p, _ in chosen),
    )  # fmt: skip
    assert code == 0, err
    for (path, _), answer in zip(chosen, json.loads(out)["images"], strict=True):
        expected = evaluator.scores(path.read_bytes())
        got = {item["label"]: item["score"] for item in answer["labels"]}
        assert max(got, key=got.__getitem__) == evaluator.labels[int(expected.argmax())]
        for label, score in zip(evaluator.labels, expected, strict=True):
            assert got[label] == pytest.approx(score, abs=1e-6)


def test_predict_prints_labels_at_the_gates_threshold(rehearsed, project: Path, test_images):
    _, record = _record(project)
    path, _ = test_images[0]
    code, out, err = _edgectl(
        "predict", "--stack", "local", "--model", "digits", "--project-dir", str(project),
        str(path),
    )  # fmt: skip
    assert code == 0, err
    header, line = out.splitlines()
    assert f"labels scoring at least {record.gate['threshold']:g}" in header
    assert "sha256 verified" in header and record.fingerprint[:19] in header
    assert line.startswith(f"{path}: ")


def test_download_writes_the_records_files(rehearsed, project: Path, tmp_path):
    _, record = _record(project)
    out = tmp_path / "bundle"
    code, stdout, err = _edgectl(
        "download", "--stack", "local", "--model", "digits", "--project-dir", str(project),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    artifact = record.artifact("tflite")
    model = (out / "model.tflite").read_bytes()
    assert hashlib.sha256(model).hexdigest() == artifact.sha256
    assert (out / "dict.txt").read_text().splitlines() == list(record.labels)
    facts = json.loads((out / "model.json").read_text())
    assert facts["fingerprint"] == record.fingerprint
    assert facts["threshold"] == record.gate["threshold"]
    assert facts["metrics"]["precision"] == record.gate["precision"]
    for name, digest in facts["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        assert f"{out / name}  sha256 {digest}" in stdout
    assert json.loads((out / "manifest.json").read_text()) == {
        "modelFile": "model.tflite",
        "labelsFile": "dict.txt",
        "modelType": "IMAGE_LABELING",
    }
    readme = (out / "README.md").read_text()
    threshold = f"{record.gate['threshold']:g}"
    assert f".setConfidenceThreshold({threshold}f)" in readme
    assert f"options.confidenceThreshold = NSNumber(value: {threshold})" in readme


def test_a_changed_artifact_is_refused(rehearsed, project: Path, tmp_path, test_images):
    store, record = _record(project)
    artifact = record.artifact("tflite")
    name = artifact.uri.removeprefix(f"gs://{store.bucket_name}/")
    original = store.read(name)
    store.write(name, original + b"\0")
    try:
        for command in (
            ["download", "--out", str(tmp_path / "x")],
            ["predict", str(test_images[0][0])],
        ):
            code, out, err = _edgectl(
                *command, "--stack", "local", "--model", "digits", "--project-dir", str(project)
            )
            assert code == 1 and out == ""
            assert (
                f"{artifact.uri} has sha256 " in err and f"the record says {artifact.sha256}" in err
            )
        assert not (tmp_path / "x").exists()
    finally:
        store.write(name, original)


def test_online_needs_deploy_in_the_spec(rehearsed, project: Path, test_images):
    code, out, err = _edgectl(
        "predict", "--stack", "local", "--model", "digits", "--project-dir", str(project),
        "--online", str(test_images[0][0]),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "Model 'digits' on stack 'local' has no spec.deploy, so it is not served online" in err


def test_online_asks_the_deployed_model(rehearsed, project: Path, test_images, emulator):
    """With `deploy` in the spec (not part of the training fingerprint: nothing retrains) and
    the model deployed, `--online` gets AutoML PredictionService's answers: the local ones."""
    from tests.fixtures.emulator import automl_client, wait_for

    spec = project / "specs" / "digits.yaml"
    original = spec.read_text()
    spec.write_text(
        original.replace("  export: [tflite]\n", "  export: [tflite]\n  deploy: {nodes: 1}\n")
    )
    model_name = rehearsed.models["digits"].facts[-1][1]  # ("cloud model", name)
    automl = automl_client(emulator.env)
    images = [str(p) for p, _ in test_images[:5]]
    try:
        wait_for(
            automl.deploy_model(
                request={
                    "name": model_name,
                    "image_classification_model_deployment_metadata": {"node_count": 1},
                }
            )
        )
        common = ("--stack", "local", "--model", "digits", "--project-dir", str(project))
        code, online, err = _edgectl("predict", *common, "--online", "--format", "json", *images)
        assert code == 0, err
        code, local, err = _edgectl("predict", *common, "--format", "json", *images)
        assert code == 0, err
    finally:
        spec.write_text(original)
        wait_for(automl.undeploy_model(name=model_name))
    online_report, local_report = json.loads(online), json.loads(local)
    assert online_report["online"] is True
    for asked, ran in zip(online_report["images"], local_report["images"], strict=True):
        assert [a["label"] for a in asked["labels"]] == [r["label"] for r in ran["labels"]]
        for a, r in zip(asked["labels"], ran["labels"], strict=True):
            assert a["score"] == pytest.approx(r["score"], abs=1e-5)


def test_the_exported_file_carries_ml_kit_metadata(rehearsed, project: Path, tmp_path):
    """The recorded model.tflite is ML Kit-ready: a metadata reader finds its labels (the
    associated TENSOR_AXIS_LABELS file), the input normalization, name, version and threshold;
    independently, the file reads as a zip holding that labels file, and LiteRT runs it."""
    from ai_edge_litert import schema_py_generated as tfl

    store, record = _record(project)
    artifact = record.artifact("tflite")
    data = store.read(artifact.uri.removeprefix(f"gs://{store.bucket_name}/"))
    assert hashlib.sha256(data).hexdigest() == artifact.sha256
    meta = read_metadata(data)
    assert meta is not None
    assert meta.labels == record.labels and meta.labels_file == "dict.txt"
    assert (meta.mean, meta.std, meta.color_space) == ((0.0,), (1.0,), "RGB")
    assert (meta.name, meta.version) == ("digits", record.fingerprint)
    assert meta.threshold == pytest.approx(record.gate["threshold"], abs=1e-6)
    # Independent checks: the zip ML Kit reads, the TF Lite flatbuffer's own metadata list.
    with zipfile.ZipFile(io.BytesIO(data)) as packed:
        assert packed.read("dict.txt").decode().split() == list(record.labels)
    model = tfl.Model.GetRootAs(data, 0)
    names = [model.Metadata(i).Name() for i in range(model.MetadataLength())]
    assert b"TFLITE_METADATA" in names
    # The downloaded file is self-contained: predict needs no dict.txt beside it.
    alone = tmp_path / "alone" / "model.tflite"
    alone.parent.mkdir()
    alone.write_bytes(data)
    assert Predictor.from_file(alone).labels == record.labels
