"""The training engine end to end on real digit photos: train, export, evaluate, predict.

Budgets count epochs (a few per node hour), so every result is the same on a fast or a busy
machine and the file runs in well under a minute on 2 cores; accuracy is the benchmark's
business (bench/bench_training.py), not this file's.
"""

import hashlib
import io
import itertools
import json
import random
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from emulator.core import trainer as trainer_module
from emulator.core.architectures import (
    MOBILE_MODEL_TYPES,
    MODEL_TYPES,
    any_side_core,
    architecture,
    build_model,
    core_of,
    load_model,
)
from emulator.core.evaluator import CONFIDENCE_THRESHOLDS, evaluate_model
from emulator.core.exporter import ExportError, export_model, set_threshold
from emulator.core.predictor import PredictionError, Predictor
from emulator.core.tf_setup import keras, tensorflow
from emulator.core.trainer import (
    BUDGET_REACHED,
    MODEL_CONVERGED,
    BudgetTooSmall,
    Example,
    Split,
    TrainingCancelled,
    TrainingConfig,
    TrainingError,
    load_training_record,
    train,
    train_cost_milli_node_hours,
    validate_config,
)
from emulator.core.training import budget as budget_module
from emulator.core.training.augment import Augmentation, augment_batch
from emulator.core.training.data import DECODED, prepare
from tests.fixtures.digits import digit_images
from tests.fixtures.evaluations import assert_multiclass_counts_add_up
from tflite_metadata import read_metadata

LABELS = ("zero", "one", "two")
MODEL_DIR_FILES = {
    "model.keras",
    "model.tflite",
    "dict.txt",
    "tflite_metadata.json",
    "representative.npy",
    "training.json",
}  # no saved_model/: TF Lite is converted straight from the Keras model
EPOCHS = 10.0  # epochs per node hour in these tests


def _split(i: int) -> Split:
    return Split.TEST if i % 8 == 0 else Split.VALIDATION if i % 8 == 1 else Split.TRAIN


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    """72 real digit photos (PNG and JPEG), 3 labels, 54 TRAIN / 9 VALIDATION / 9 TEST."""
    return [Example(d.data, (d.label,), _split(i)) for i, d in enumerate(digit_images(24, LABELS))]


BUDGET = 1_000  # × EPOCHS: 10 epochs, more than MAX_EPOCHS take
MAX_EPOCHS = 4  # ends each training before its budget (counts as BUDGET_REACHED)


@pytest.fixture(scope="module")
def config() -> TrainingConfig:
    return TrainingConfig(
        labels=LABELS,
        budget_milli_node_hours=BUDGET,
        epochs_per_node_hour=EPOCHS,
        max_epochs=MAX_EPOCHS,
    )


# The smallest type only: every mobile type is trained, exported and sized through the AutoML
# API in test_automl_models.py; here the engine's own behaviour is what is under test.
TRAINED_TYPES = ("mobile-low-latency-1",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, examples, config):
    """A model of each type in TRAINED_TYPES, trained with the same data, budget and seed."""
    root = tmp_path_factory.mktemp("models")
    results = {}
    for model_type in TRAINED_TYPES:
        reports = []
        result = train(
            examples, replace(config, model_type=model_type), root / model_type, reports.append
        )
        results[model_type] = (result, reports)
    return results


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


def test_training_runs_within_its_budget(trained):
    for model_type, (result, reports) in trained.items():
        assert result.model_type == model_type
        assert result.stop_reason in (MODEL_CONVERGED, BUDGET_REACHED)
        # 4 of the budget's 10 epochs: 4/10 of it billed.
        assert result.train_cost_milli_node_hours == 400
        assert result.budget_milli_node_hours == BUDGET
        assert result.epochs == MAX_EPOCHS and len(result.history) == result.epochs
        assert [r.epoch for r in reports] == list(range(1, result.epochs + 1))
        assert [r.budget_fraction for r in reports] == [0.1, 0.2, 0.3, 0.4]
        assert {p.name for p in result.model_dir.iterdir()} == MODEL_DIR_FILES
        record = load_training_record(result.model_dir)
        assert record["result"]["stop_reason"] == result.stop_reason
        assert record["config"]["model_type"] == model_type
        assert _leftovers(result.model_dir.parent) == []


def test_architectures_grow_from_low_latency_to_high_accuracy():
    # (The exported .tflite sizes of trained models are compared in test_automl_models.py.)
    params = [
        build_model(architecture(t), 3, multilabel=False).count_params() for t in MOBILE_MODEL_TYPES
    ]
    inputs = [architecture(t).input_size for t in MOBILE_MODEL_TYPES]
    sides = [architecture(t).largest_side for t in MOBILE_MODEL_TYPES]
    assert params[0] < params[1] < params[2], params
    # High accuracy trains and infers at versatile's sides (a step costs about the same; its
    # extra parameters are in the last stage, where they are cheap): architectures.py.
    assert inputs[0] < inputs[1] <= inputs[2], inputs
    assert sides[0] < sides[1] <= sides[2], sides


def test_larger_mobile_types_train_on_smaller_crops_unless_the_config_says():
    areas = [architecture(t).min_crop_area for t in MOBILE_MODEL_TYPES]
    assert areas[0] > areas[1] >= areas[2], areas
    assert Augmentation().resolved(0.35) == Augmentation(min_area=0.35)
    assert Augmentation(min_area=0.9).resolved(0.35).min_area == 0.9
    with pytest.raises(ValueError, match="unresolved"):
        augment_batch(
            np.zeros((1, 8, 8, 3), np.uint8),
            tensorflow().constant([0, 0]),
            8,
            Augmentation(),
            False,
        )


def test_cloud_is_at_least_as_large_as_high_accuracy():
    counts = {
        t: build_model(architecture(t), 3, multilabel=False).count_params() for t in MODEL_TYPES
    }
    assert counts["mobile-high-accuracy-1"] <= counts["cloud"]
    assert architecture("mobile-high-accuracy-1").input_size <= architecture("cloud").input_size


def test_predictions_accept_every_common_image_format(trained, examples):
    result, _ = trained["mobile-low-latency-1"]
    predictor = Predictor(result.model_dir)
    image = next(e for e in examples if e.split == Split.TEST).data
    reference = predictor.scores(image)
    pixels = Image.open(io.BytesIO(image)).convert("RGB")
    for fmt in ("PNG", "BMP", "TIFF", "WEBP"):  # lossless: the same pixels, the same scores
        buffer = io.BytesIO()
        pixels.save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        assert np.allclose(predictor.scores(buffer.getvalue()), reference, atol=1e-5), fmt
    with pytest.raises(PredictionError, match="not an image in an accepted format"):
        predictor.predict(b"%PDF-1.4 not an image")


def test_each_model_runs_in_litert_on_a_held_out_image(trained, examples):
    held_out = [e for e in examples if e.split == Split.TEST]
    for result, _ in trained.values():
        interpreter = Interpreter(model_path=str(result.model_dir / "model.tflite"))
        detail = interpreter.get_input_details()[0]
        assert list(detail["shape"]) == [1, result.input_size, result.input_size, 3]
        assert detail["dtype"] == np.float32
        predictor = Predictor(result.model_dir)
        scores = predictor.scores(held_out[0].data)
        assert scores.shape == (3,) and scores.sum() == pytest.approx(1.0, abs=1e-4)
        answer = predictor.predict(held_out[0].data, score_threshold=0.0)
        assert [a.label for a in answer] == [LABELS[i] for i in np.argsort(-scores)]
        assert all(a.score >= b.score for a, b in itertools.pairwise(answer))
        confident = predictor.predict(held_out[0].data, score_threshold=0.5)
        assert [a.label for a in confident] == [LABELS[i] for i in np.flatnonzero(scores >= 0.5)]


def test_evaluation_of_the_exported_model_is_consistent(trained, examples):
    result, _ = trained["mobile-low-latency-1"]
    ids = ("11", "12", "13")
    overall, *per_label = evaluate_model(result.model_dir, examples, annotation_spec_ids=ids)
    test = [e for e in examples if e.split == Split.TEST]
    assert overall.annotation_spec_id == "" and overall.evaluated_example_count == len(test)
    assert [(e.annotation_spec_id, e.display_name) for e in per_label] == list(
        zip(ids, LABELS, strict=True)
    )
    assert [e.evaluated_example_count for e in per_label] == [
        sum(e.labels == (label,) for e in test) for label in LABELS
    ]
    metrics = overall.classification_evaluation_metrics
    assert len(metrics.confidence_metrics_entry) == len(CONFIDENCE_THRESHOLDS)
    assert_multiclass_counts_add_up(overall, per_label, len(test), len(LABELS))
    # The confusion matrix and recall_at1 at threshold 0 agree on top-1 accuracy.
    rows = np.array(metrics.confusion_matrix.row)
    assert rows.sum() == len(test) and list(rows.sum(axis=1)) == [
        e.evaluated_example_count for e in per_label
    ]
    assert metrics.at(0.0).recall_at1 == pytest.approx(np.trace(rows) / len(test))
    assert 0.0 <= metrics.au_prc <= 1.0 and 0.0 <= metrics.au_roc <= 1.0 and metrics.log_loss > 0


def test_exports_write_model_labels_and_metadata(trained, tmp_path):
    result, _ = trained["mobile-low-latency-1"]
    size = result.input_size
    expected_input = {
        "tflite": ([1, size, size, 3], "float32"),
        "edgetpu_tflite": ([1, size, size, 3], "uint8"),
        "tf_saved_model": ([-1, -1, -1, 3], "float32"),
    }
    for model_format, (shape, dtype) in expected_input.items():
        exported = export_model(result.model_dir, model_format, tmp_path / model_format)
        names = {f.name for f in exported.files}
        assert {"dict.txt", "tflite_metadata.json"} <= names
        if model_format == "tf_saved_model":
            assert "saved_model/saved_model.pb" in names
        else:
            assert "model.tflite" in names
            # The labels and the normalization travel inside the file, as the services' do.
            embedded = read_metadata((exported.directory / "model.tflite").read_bytes())
            assert embedded is not None and embedded.labels == LABELS
            assert (embedded.mean, embedded.std) == ((0.0,), (1.0,))
        assert (exported.directory / "dict.txt").read_text() == "zero\none\ntwo\n"
        metadata = json.loads((exported.directory / "tflite_metadata.json").read_text())
        assert metadata["inputShape"] == shape and metadata["inputType"] == dtype
        assert metadata["labels"] == list(LABELS) and metadata["modelType"] == result.model_type
        assert metadata["threshold"] is None and metadata["modelFormat"] == model_format
        for f in exported.files:
            assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()
        assert _leftovers(tmp_path) == []
    updated = set_threshold(tmp_path / "tflite", 0.35)
    metadata = json.loads((tmp_path / "tflite" / "tflite_metadata.json").read_text())
    assert metadata["threshold"] == 0.35 and updated.name == "tflite_metadata.json"
    with pytest.raises(ExportError, match="not empty"):
        export_model(result.model_dir, "tflite", tmp_path / "tflite")
    with pytest.raises(ExportError, match="allowed: tflite, edgetpu_tflite, tf_saved_model"):
        export_model(result.model_dir, "core_ml", tmp_path / "core_ml")


def test_int8_export_is_quantized_and_takes_raw_pixels(trained, examples, tmp_path, capfd):
    result, _ = trained["mobile-low-latency-1"]
    capfd.readouterr()
    exported = export_model(result.model_dir, "edgetpu_tflite", tmp_path / "int8")
    assert capfd.readouterr().err == ""  # the converter's native log lines are filtered out
    interpreter = Interpreter(model_path=str(exported.directory / "model.tflite"))
    tensor_types = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    assert np.dtype(np.int8) in tensor_types
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)  # raw 0–255
    assert interpreter.get_output_details()[0]["dtype"] == np.uint8
    assert (
        exported.file("model.tflite").size_bytes
        < (result.model_dir / "model.tflite").stat().st_size
    )
    test = [e for e in examples if e.split == Split.TEST]
    float_scores = Predictor(result.model_dir).scores_batch([e.data for e in test])
    int8_scores = Predictor(exported.directory).scores_batch([e.data for e in test])
    # Quantization error on probabilities stays small: one output step is 1/256.
    assert np.abs(float_scores - int8_scores).max() < 0.1
    overall = evaluate_model(exported.directory, examples)[0]
    assert overall.evaluated_example_count == len(test)


def test_tf_saved_model_export_serves_the_same_scores(trained, examples, tmp_path):
    result, _ = trained["mobile-low-latency-1"]
    exported = export_model(result.model_dir, "tf_saved_model", tmp_path / "sm")
    predictor = Predictor(result.model_dir)
    image = next(e for e in examples if e.split == Split.TEST).data
    loaded = tensorflow().saved_model.load(str(exported.directory / "saved_model"))
    served = loaded.signatures["serving_default"](
        tensorflow().constant(predictor.pixels(image)[None].astype(np.float32))
    )
    scores = next(iter(served.values())).numpy()[0]
    assert np.allclose(scores, predictor.scores(image), atol=1e-4)


def test_initial_weights_come_from_the_seed_alone():
    # Keras seeds an initializer or Dropout layer that has none from Python's global `random`,
    # which other threads of the emulator's process draw from (retry jitter while a client
    # polls the training): the same seed must build the same model whatever they drew.
    arch = architecture("mobile-low-latency-1")

    def weights(global_seed: int, seed: int) -> list[np.ndarray]:
        random.seed(global_seed)
        model = build_model(arch, 3, multilabel=False, input_side=32, seed=seed)
        dropout = model.get_layer("head_dropout").seed_generator.state.numpy()
        return [*model.get_weights(), dropout]

    first, second, other = weights(1, 5), weights(2, 5), weights(1, 6)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_same_seed_same_data_same_model_and_early_stopping(examples, tmp_path, monkeypatch):
    # min_delta is unreachable, so validation loss "stops improving" after epoch 1 and
    # patience 1 (with no warm-up) ends the run at epoch 2 — deterministically, long before
    # the budget.
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=100_000,
        epochs_per_node_hour=1,
        seed=11,
        patience=1,
        min_delta=100.0,
        warmup_steps=0,
    )
    first = train(examples, config, tmp_path / "a")
    # The second training as if another thread drew from Python's random between the trainer's
    # seeding and its model's build (a client's retry jitter while it polls the operation).
    build = trainer_module.build_model
    monkeypatch.setattr(
        trainer_module, "build_model", lambda *a, **kw: (random.random(), build(*a, **kw))[1]
    )
    second = train(examples, config, tmp_path / "b")
    assert first.stop_reason == second.stop_reason == MODEL_CONVERGED
    assert first.epochs == 2 and first.best_epoch == 1
    assert first.train_cost_milli_node_hours < config.budget_milli_node_hours
    assert [h.val_loss for h in first.history] == [h.val_loss for h in second.history]
    assert (first.model_dir / "model.tflite").read_bytes() == (
        second.model_dir / "model.tflite"
    ).read_bytes()
    other = train(examples, replace(config, seed=12), tmp_path / "c")
    assert (other.model_dir / "model.tflite").read_bytes() != (
        first.model_dir / "model.tflite"
    ).read_bytes()


def test_no_early_stop_during_the_warm_up_steps(examples, tmp_path):
    # 54 TRAIN images in batches of 32: 2 optimizer steps per epoch. Validation loss never
    # "improves" (min_delta unreachable), so the run stops at the first epoch past 20 steps.
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=100_000,
        epochs_per_node_hour=1,
        patience=1,
        min_delta=100.0,
        warmup_steps=20,
    )
    result = train(examples, config, tmp_path / "model")
    assert result.stop_reason == MODEL_CONVERGED
    assert result.epochs == 10  # 10 epochs × 2 steps = 20 steps, then one epoch of patience


def test_an_epoch_budget_makes_training_independent_of_machine_speed(examples, tmp_path):
    # 3 epochs per node hour and 2 node hours: exactly 6 epochs, all of the budget used,
    # however slow or busy the machine (the wall-clock scale plays no part).
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=2_000,
        seconds_per_node_hour=0.001,
        epochs_per_node_hour=3,
    )
    result = train(examples, config, tmp_path / "model")
    assert (result.stop_reason, result.epochs) == (BUDGET_REACHED, 6)
    assert result.train_cost_milli_node_hours == 2_000


def test_a_wall_clock_budget_that_does_not_bind_leaves_the_model_to_the_seed(
    examples, tmp_path, monkeypatch
):
    # A wall-clock budget far beyond what 3 epochs need (100,000 s): the learning rates must
    # follow the steps alone, so the same seed gives the same model on a slower machine. The
    # second training reads a clock that runs 3 times as fast, as a machine 3 times slower
    # would (every step and the wait for the first batch take 3 times as long), and no real
    # time enters the comparison.
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=1_000,
        seconds_per_node_hour=100_000,
        max_epochs=3,
        seed=13,
    )
    first = train(examples, config, tmp_path / "a")
    start, reads = time.monotonic(), []

    def slower() -> float:
        reads.append(1)
        return start + 3 * (time.monotonic() - start)

    monkeypatch.setattr(budget_module, "time", SimpleNamespace(monotonic=slower))
    second = train(examples, config, tmp_path / "b")
    assert reads  # the training read the slower clock
    assert first.epochs == second.epochs == 3
    assert [h.learning_rate for h in first.history] == [h.learning_rate for h in second.history]
    assert (first.model_dir / "model.tflite").read_bytes() == (
        second.model_dir / "model.tflite"
    ).read_bytes()


# One node hour of low latency, for the tests that run it on `ten_ms_readings`.
_TICKED = TrainingConfig(
    labels=LABELS, model_type="mobile-low-latency-1", budget_milli_node_hours=1_000, seed=13
)


@pytest.fixture
def ten_ms_readings(monkeypatch):
    """The budget's clock moves 10 ms a reading: a training sees the same times on any
    machine (as many readings, so as many epochs and steps, whatever its speed or load)."""
    ticks = itertools.count()
    monkeypatch.setattr(
        budget_module, "time", SimpleNamespace(monotonic=lambda: next(ticks) * 0.01)
    )


def test_a_wall_clock_budget_that_binds_anneals_the_rate_before_it_ends(
    examples, tmp_path, ten_ms_readings
):
    # The training reads a clock of its own that moves 10 ms a reading, so the budget ends it
    # after the same number of readings, epochs and steps on any machine: far before the
    # schedule's horizon (1,500 steps, 2 a epoch). The pace of its epochs says so, and the
    # rate decays over the epochs the budget pays for, down to nothing at its end.
    config = _TICKED
    result = train(examples, replace(config, seconds_per_node_hour=1.0), tmp_path / "model")
    rates = [h.learning_rate for h in result.history]
    peak = architecture("mobile-low-latency-1").learning_rate
    assert result.stop_reason == BUDGET_REACHED
    assert 5 <= result.epochs < 100  # the budget ended it, far before the horizon (750 epochs)
    assert max(rates) > peak / 2  # it warmed up and learnt
    assert all(a >= b for a, b in itertools.pairwise(rates[rates.index(max(rates)) :]))
    assert rates[-1] < peak / 10  # annealed by the budget's end


def test_a_training_that_reaches_its_horizon_converged_whatever_budget_is_left(
    examples, tmp_path, monkeypatch, ten_ms_readings
):
    # A horizon of 3 epochs (6 steps), and a clock of the test's own (10 ms a reading). The
    # first training's budget is far from binding; the second's ends half an epoch after the
    # third: its steps, rates and model are the first's, and so must be its stop reason — the
    # schedule's horizon is reached, whether or not a fourth epoch would have fitted.
    monkeypatch.setattr(trainer_module, "HORIZON_EPOCHS", 3)
    monkeypatch.setattr(trainer_module, "MIN_HORIZON_STEPS", 6)
    config = _TICKED
    ample = train(examples, replace(config, seconds_per_node_hour=1_000.0), tmp_path / "a")
    assert (ample.stop_reason, ample.epochs) == (MODEL_CONVERGED, 3)
    second, third = (h.elapsed_seconds for h in ample.history[1:3])
    tight = replace(config, seconds_per_node_hour=third + (third - second) / 2)
    result = train(examples, tight, tmp_path / "b")
    assert [h.learning_rate for h in result.history] == [h.learning_rate for h in ample.history]
    assert (result.stop_reason, result.epochs) == (MODEL_CONVERGED, 3)
    assert result.train_cost_milli_node_hours < config.budget_milli_node_hours


def test_cancel_stops_training_and_writes_nothing(examples, tmp_path):
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=100_000,
        epochs_per_node_hour=1,
    )
    cancel, first_epoch, outcome = threading.Event(), threading.Event(), {}

    def run() -> None:
        try:
            outcome["result"] = train(
                examples, config, tmp_path / "model", lambda _: first_epoch.set(), cancel
            )
        except TrainingCancelled as exc:
            outcome["cancelled"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    assert first_epoch.wait(120)
    cancel.set()
    worker.join(120)
    assert not worker.is_alive()
    stopped = outcome["cancelled"]
    assert 0 < stopped.cost_milli_node_hours < config.budget_milli_node_hours
    assert stopped.epochs >= 1
    assert not (tmp_path / "model").exists() and _leftovers(tmp_path) == []


def test_model_directory_is_never_half_written(examples, tmp_path):
    config = TrainingConfig(
        labels=LABELS, model_type="mobile-low-latency-1", epochs_per_node_hour=1, max_epochs=1
    )
    target = tmp_path / "model"

    def squatter(_) -> None:  # someone else creates the directory while we train
        target.mkdir()
        (target / "theirs.txt").write_text("keep me")

    with pytest.raises(TrainingError, match="appeared during training"):
        train(examples, config, target, squatter)
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]
    assert _leftovers(tmp_path) == []

    with pytest.raises(TrainingError, match="already exists"):
        train(examples, config, target)

    def failing(_) -> None:
        raise RuntimeError("progress sink broke")

    with pytest.raises(RuntimeError, match="progress sink broke"):
        train(examples, config, tmp_path / "other", failing)
    assert not (tmp_path / "other").exists() and _leftovers(tmp_path) == []


def test_bad_examples_are_refused_before_anything_is_written(examples, tmp_path):
    config = TrainingConfig(labels=LABELS, model_type="mobile-low-latency-1", max_epochs=1)
    unknown = [*examples, Example(examples[0].data, ("seven",), Split.TRAIN)]
    with pytest.raises(TrainingError, match=r"example 72: label\(s\) \['seven'\]"):
        train(unknown, config, tmp_path / "a")
    double = [*examples, Example(examples[0].data, ("zero", "one"), Split.TRAIN)]
    with pytest.raises(TrainingError, match="exactly 1 label"):
        train(double, config, tmp_path / "b")
    broken = [*examples, Example(b"\x89PNG\r\n\x1a\n broken", ("zero",), Split.TRAIN)]
    with pytest.raises(TrainingError, match="example 72: image cannot be decoded"):
        train(broken, config, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_multilabel_model_uses_sigmoid_scores_and_per_label_metrics(tmp_path):
    labels = (*LABELS, "even")
    examples = [
        Example(d.data, (d.label, "even") if d.label != "one" else (d.label,), _split(i))
        for i, d in enumerate(digit_images(24, LABELS))
    ]
    config = TrainingConfig(
        labels=labels,
        multilabel=True,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=1_000,
        epochs_per_node_hour=3,
    )
    result = train(examples, config, tmp_path / "model")
    predictor = Predictor(result.model_dir)
    assert predictor.multilabel and predictor.labels == labels
    metadata = json.loads((result.model_dir / "tflite_metadata.json").read_text())
    assert metadata["multilabel"] is True and metadata["outputActivation"] == "sigmoid"
    test = [e for e in examples if e.split == Split.TEST]
    scores = predictor.scores_batch([e.data for e in test])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)  # independent sigmoids
    overall, *per_label = evaluate_model(result.model_dir, examples)
    assert overall.classification_evaluation_metrics.confusion_matrix is None
    assert [e.evaluated_example_count for e in per_label] == [
        sum(label in e.labels for e in test) for label in labels
    ]
    positives = sum(len(e.labels) for e in test)
    for entry in overall.classification_evaluation_metrics.confidence_metrics_entry:
        assert entry.true_positive_count + entry.false_negative_count == positives
        tp, fp = entry.true_positive_count, entry.false_positive_count
        assert entry.precision == pytest.approx(tp / (tp + fp) if tp + fp else 1.0)


def test_transfer_learning_from_a_keras_file_and_a_saved_model(trained, tmp_path):
    base, _ = trained["mobile-low-latency-1"]
    labels = ("three", "four")
    examples = [
        Example(d.data, (d.label,), _split(i)) for i, d in enumerate(digit_images(12, labels))
    ]
    config = TrainingConfig(
        labels=labels, model_type="mobile-low-latency-1", epochs_per_node_hour=1, max_epochs=1
    )
    k = keras()
    base_stem = k.models.load_model(base.model_dir / "model.keras").get_layer("stem")
    saved_model = export_model(base.model_dir, "tf_saved_model", tmp_path / "base-sm").directory
    for name, path in (
        ("keras", base.model_dir / "model.keras"),
        ("sm", saved_model / "saved_model"),
    ):
        result = train(examples, replace(config, base_model_path=path), tmp_path / name)
        assert result.input_size == base.input_size
        predictor = Predictor(result.model_dir)
        assert predictor.labels == labels
        assert predictor.scores(examples[0].data).shape == (2,)
        if name == "keras":  # the trunk starts from the base's weights (and moves little)
            tuned = k.models.load_model(result.model_dir / "model.keras").get_layer("base")
            delta = tuned.get_layer("stem").get_weights()[0] - base_stem.get_weights()[0]
            assert np.abs(delta).max() < 0.05
    with pytest.raises(TrainingError, match="no such file"):
        train(examples, replace(config, base_model_path=tmp_path / "missing.keras"), tmp_path / "x")


# ---- budgets: what is billed, and what a budget too small for an epoch does -----------------


def test_a_budget_too_small_for_one_epoch_fails_and_writes_nothing(examples, tmp_path):
    # 1 node hour = 1 µs of training: no machine completes an epoch in that, so the training
    # fails (it used to end BUDGET_REACHED with weights that never completed an epoch).
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=1_000,
        seconds_per_node_hour=1e-6,
    )
    with pytest.raises(BudgetTooSmall) as failure:
        train(examples, config, tmp_path / "model")
    message = str(failure.value)
    assert "the budget of 1,000 milli node hours (1e-06 s of training" in message
    assert "one epoch of 54 TRAIN images needs about" in message
    assert "no model was created and nothing was billed" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("epochs_per_node_hour", "needs"),
    [(0.0, "no budget buys one"), (0.5, "one epoch needs 2,000 milli node hours")],
)
def test_an_epoch_budget_that_buys_no_epoch_is_refused_at_start(
    examples, tmp_path, epochs_per_node_hour, needs
):
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=1_000,
        epochs_per_node_hour=epochs_per_node_hour,
    )
    with pytest.raises(BudgetTooSmall, match=f"cannot complete one epoch \\({needs}\\)"):
        validate_config(config)
    started = []
    with pytest.raises(BudgetTooSmall, match="0 epochs at"):
        train(examples, config, tmp_path / "model", started.append)
    assert started == [] and list(tmp_path.iterdir()) == []


def test_setup_and_export_are_timed_apart_and_not_billed(examples, tmp_path):
    # A wall-clock budget (100 node hours of 60 s) far longer than the 2 epochs trained: the
    # cost is the epochs' billed seconds, whatever decoding, tracing and export took.
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=100_000,
        seconds_per_node_hour=60.0,
        max_epochs=2,
    )
    result = train(examples, config, tmp_path / "model")
    assert set(result.timings) == {"setup", "epochs", "export"}
    assert 0 < result.elapsed_seconds <= result.timings["epochs"]
    assert result.history[-1].elapsed_seconds == result.elapsed_seconds
    assert result.train_cost_milli_node_hours == train_cost_milli_node_hours(
        result.elapsed_seconds, 60.0, 100_000
    )
    record = load_training_record(result.model_dir)["result"]
    assert set(record["timings"]) == {"setup", "epochs", "export"}


def test_stop_reason_epochs_best_epoch_and_cost_travel_with_the_model(trained, tmp_path):
    result, _ = trained["mobile-low-latency-1"]
    summary = {
        "stopReason": result.stop_reason,
        "epochsRun": result.epochs,
        "bestEpoch": result.best_epoch,
        "budgetMilliNodeHours": BUDGET,
        "trainCostMilliNodeHours": result.train_cost_milli_node_hours,
        "trainingSeconds": result.elapsed_seconds,
    }
    assert 1 <= result.best_epoch <= result.epochs
    metadata = json.loads((result.model_dir / "tflite_metadata.json").read_text())
    assert metadata["training"] == summary
    for model_format in ("tflite", "edgetpu_tflite", "tf_saved_model"):
        exported = export_model(result.model_dir, model_format, tmp_path / model_format)
        metadata = json.loads((exported.directory / "tflite_metadata.json").read_text())
        assert metadata["training"] == summary, model_format


def test_tflite_is_converted_from_the_keras_model_without_resizing(trained, examples):
    result, _ = trained["mobile-low-latency-1"]
    model = keras().models.load_model(result.model_dir / "model.keras")
    predictor = Predictor(result.model_dir)
    pixels = predictor.pixels(next(e for e in examples if e.split == Split.TEST).data)
    expected = model(pixels[None].astype(np.float32), training=False).numpy()[0]
    assert np.allclose(predictor.scores_for_pixels(pixels), expected, atol=1e-5)
    interpreter = Interpreter(model_path=str(result.model_dir / "model.tflite"))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "RESIZE_BILINEAR" not in ops  # the app (and the predictor) resize, not the file
    assert not (result.model_dir / "saved_model").exists()


def test_decoded_images_are_cached_per_dataset_and_shared_by_trainings(examples):
    DECODED.clear()
    never = threading.Event()
    first = prepare(examples, LABELS, False, 96, never)
    again = prepare(examples, LABELS, False, 96, never)
    assert not first.cached and again.cached
    assert np.shares_memory(again.x_train, first.x_train)  # the same decoded pixels
    assert np.array_equal(again.y_train, first.y_train)
    assert first.x_train.shape[1:] == (32, 32, 3)  # the digits' own side, not enlarged
    other = prepare(examples[:-8], LABELS, False, 96, never)  # another dataset
    assert not other.cached


# ---- augmentation ----------------------------------------------------------------------------


def test_augmentation_is_seeded_and_mirrors_only_when_asked():
    tf = tensorflow()
    pixels = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    aug = Augmentation(min_area=0.6)

    def run(seed: tuple[int, int], flip: bool, augmentation: Augmentation = aug) -> np.ndarray:
        return augment_batch(pixels, tf.constant(seed, tf.int32), 32, augmentation, flip).numpy()

    first = run((1, 5), flip=False)
    assert first.shape == (6, 32, 32, 3) and first.min() >= 0 and first.max() <= 255
    assert np.array_equal(first, run((1, 5), flip=False))
    assert not np.array_equal(first, run((1, 6), flip=False))
    still = Augmentation(min_area=1.0, max_aspect=1.0, jitter=0.0)  # only mirroring is left
    whole = tf.constant([[0.0, 0.0, 1.0, 1.0]] * 6)  # each whole image, resized to 32×32
    resized = tf.image.crop_and_resize(pixels.astype(np.float32), whole, tf.range(6), [32, 32])
    resized = resized.numpy()
    assert np.allclose(run((1, 5), False, still), resized, atol=1e-3)
    mirrored = run((1, 5), True, still)
    pairs = list(zip(mirrored, resized, strict=True))
    flipped = [np.allclose(m, r[:, ::-1], atol=1e-3) for m, r in pairs]
    kept = [np.allclose(m, r, atol=1e-3) for m, r in pairs]
    assert any(flipped) and any(kept) and all(f or k for f, k in zip(flipped, kept, strict=True))


def test_the_exported_core_takes_the_input_side(trained):
    result, _ = trained["mobile-low-latency-1"]
    core = core_of(keras().models.load_model(result.model_dir / "model.keras"))
    assert tuple(core.inputs[0].shape[1:]) == (result.input_size, result.input_size, 3)


# ---- mirror averaging ------------------------------------------------------------------------


def test_larger_types_average_image_and_mirror_where_mirrors_keep_labels(examples, tmp_path):
    # One epoch each; mirrors forced on or off (the digits' own data says off).
    def trained_model(model_type: str, flip: bool) -> Path:
        config = TrainingConfig(
            labels=LABELS,
            model_type=model_type,
            epochs_per_node_hour=1,
            max_epochs=1,
            augmentation=Augmentation(horizontal_flip=flip),
        )
        return train(examples, config, tmp_path / f"{model_type}-{flip}").model_dir

    image = next(e for e in examples if e.split == Split.TEST).data

    def mirror_gap(model_dir: Path) -> float:
        predictor = Predictor(model_dir)  # the exported TF Lite file
        pixels = predictor.pixels(image)
        mirrored = predictor.scores_for_pixels(np.ascontiguousarray(pixels[:, ::-1]))
        return float(np.abs(predictor.scores_for_pixels(pixels) - mirrored).max())

    averaged = trained_model("mobile-versatile-1", flip=True)
    assert mirror_gap(averaged) < 1e-5
    assert mirror_gap(trained_model("mobile-versatile-1", flip=False)) > 1e-4
    # Low latency keeps one pass per image (its 1 ms target), mirrors or not.
    assert not architecture("mobile-low-latency-1").mirror_average
    assert mirror_gap(trained_model("mobile-low-latency-1", flip=True)) > 1e-4
    # The averaging travels with model.keras: reloaded, served as a SavedModel, fine-tuned.
    keras_model = load_model(averaged / "model.keras")
    pixels = Predictor(averaged).pixels(image)[None].astype(np.float32)
    assert np.allclose(
        keras_model(pixels, training=False).numpy(),
        keras_model(pixels[:, :, ::-1], training=False).numpy(),
        atol=1e-6,
    )
    exported = export_model(averaged, "tf_saved_model", tmp_path / "sm")
    loaded = tensorflow().saved_model.load(str(exported.directory / "saved_model"))
    served = next(
        iter(loaded.signatures["serving_default"](tensorflow().constant(pixels)).values())
    )
    assert np.allclose(served.numpy(), keras_model(pixels, training=False).numpy(), atol=1e-4)


def test_mirror_averaging_costs_training_nothing_and_keeps_initial_weights():
    arch = architecture("mobile-high-accuracy-1")
    plain = build_model(arch, 3, multilabel=False, input_side=32, seed=5)
    averaged = build_model(arch, 3, multilabel=False, input_side=32, seed=5, mirror_average=True)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(plain.get_weights(), averaged.get_weights(), strict=True)
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    # Training: one pass per image (the same as the plain model); inference: the mean of two.
    assert np.allclose(
        plain(pixels, training=True).numpy(), averaged(pixels, training=True).numpy(), atol=1e-5
    )
    plain_scores = plain(pixels, training=False).numpy()
    mirror_scores = plain(pixels[:, :, ::-1], training=False).numpy()
    assert np.allclose(
        averaged(pixels, training=False).numpy(),
        averaged(pixels[:, :, ::-1], training=False).numpy(),
        atol=1e-6,
    )
    assert not np.allclose(averaged(pixels, training=False).numpy(), plain_scores, atol=1e-4)
    assert not np.allclose(plain_scores, mirror_scores, atol=1e-4)


# ---- inference at a larger side than training ----------------------------------------------


def test_larger_types_infer_at_a_larger_side_than_their_training_crops():
    sides = [(architecture(t).input_size, architecture(t).largest_side) for t in MOBILE_MODEL_TYPES]
    assert all(largest >= trained for trained, largest in sides), sides
    assert sides[2][1] > sides[2][0], sides  # high accuracy: trains at 88, infers at 120
    assert [largest for _, largest in sides] == sorted(largest for _, largest in sides)
    arch = architecture("mobile-high-accuracy-1")
    model = build_model(arch, 3, multilabel=False, seed=3, mirror_average=True)
    core = any_side_core(model)  # the same layers and weights, any side
    assert all(
        np.array_equal(a, b) for a, b in zip(core.get_weights(), model.get_weights(), strict=True)
    )
    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 255, (2, arch.input_size, arch.input_size, 3)).astype(np.float32)
    assert core(crops, training=True).shape == (2, 3)
    whole = rng.uniform(0, 255, (2, arch.largest_side, arch.largest_side, 3)).astype(np.float32)
    assert np.allclose(
        core(whole, training=False).numpy(), core_of(model)(whole, training=False).numpy()
    )


def test_a_type_with_an_inference_side_exports_it_where_the_images_hold_it(examples, tmp_path):
    config = TrainingConfig(
        labels=LABELS,
        model_type="mobile-versatile-1",
        epochs_per_node_hour=1,
        max_epochs=1,
    )
    arch = architecture("mobile-versatile-1")
    result = train([_enlarged(e, 96) for e in examples], config, tmp_path / "large")
    assert result.input_size == arch.largest_side > arch.input_size
    interpreter = Interpreter(model_path=str(result.model_dir / "model.tflite"))
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 88, 88, 3]
    # On images of 32 px, training and inference sides are theirs (enlarging adds no detail).
    small = train(examples, config, tmp_path / "small")
    assert small.input_size == 32


def test_high_accuracy_trains_on_small_crops_first_then_on_its_own_side(
    examples, tmp_path, monkeypatch
):
    """Progressive sizing (architectures.py): the first `early_fraction` of the schedule's
    steps run on crops of `early_input_size`, the rest on the type's side; both steps are
    traced before the budget starts. Images no larger than the early side train at one side."""
    arch = architecture("mobile-high-accuracy-1")
    assert 0 < arch.early_input_size < arch.input_size and 0 < arch.early_fraction < 1
    sides: list[int] = []
    warm_up = trainer_module.Steps.warm_up

    def recorded(step, side: int):
        def run(*args):
            sides.append(side)
            return step(*args)

        return run

    def recording_warm_up(steps, *args):
        warm_up(steps, *args)
        monkeypatch.setattr(steps, "train", recorded(steps.train, steps.recipe.input_side))
        if steps.train_early is not None:
            early = recorded(steps.train_early, steps.recipe.early_side)
            monkeypatch.setattr(steps, "train_early", early)

    monkeypatch.setattr(trainer_module.Steps, "warm_up", recording_warm_up)
    trainer_module.forget_compiled_steps()
    config = TrainingConfig(
        labels=LABELS, model_type="mobile-high-accuracy-1", epochs_per_node_hour=1, max_epochs=1
    )
    train([_enlarged(e, 96) for e in examples], config, tmp_path / "large")
    early = sum(side == 48 for side in sides)
    assert sides == [48] * early + [88] * (len(sides) - early), sides
    assert abs(early / len(sides) - arch.early_fraction) <= 1 / len(sides) + 1e-9, sides
    sides.clear()
    train(examples, config, tmp_path / "small")  # 32 px: nothing smaller to start from
    assert set(sides) == {32}, sides


def _enlarged(example: Example, side: int) -> Example:
    """The example's image enlarged to `side` px (the detail is not there; the trainer sees
    the side)."""
    image = Image.open(io.BytesIO(example.data)).convert("RGB").resize((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return replace(example, data=buffer.getvalue())


@pytest.fixture
def traced(monkeypatch) -> list[int]:
    """For every warm-up of the training steps, how often they had been traced before it
    (0: traced anew); no steps kept from an earlier test."""
    counts: list[int] = []
    warm_up = trainer_module.Steps.warm_up

    def counting_warm_up(steps, *args):
        counts.append(steps.train.experimental_get_tracing_count())
        warm_up(steps, *args)

    monkeypatch.setattr(trainer_module.Steps, "warm_up", counting_warm_up)
    trainer_module.forget_compiled_steps()
    return counts


def _low_latency(max_epochs: int, **changes) -> TrainingConfig:
    """The low-latency type at the tests' budget, ended after `max_epochs`."""
    return TrainingConfig(
        labels=LABELS,
        model_type="mobile-low-latency-1",
        budget_milli_node_hours=BUDGET,
        epochs_per_node_hour=EPOCHS,
        max_epochs=max_epochs,
        **changes,
    )


def _zero_or_one(examples: list[Example]) -> list[Example]:
    """The examples with two labels instead of three: another label count, another graph."""
    return [replace(e, labels=("zero",) if e.labels == ("zero",) else ("one",)) for e in examples]


def _tflite(result) -> bytes:
    return (result.model_dir / "model.tflite").read_bytes()


def test_a_training_of_the_last_ones_graph_reuses_its_traced_steps_and_trains_the_same_model(
    examples, tmp_path, traced
):
    """Tracing the compiled steps is most of a small training's setup; a training whose graph
    is the last one's (type, labels, sides, recipe but seed and class weights) reuses them with
    every variable reset, and trains exactly the model that steps traced anew would."""
    config = _low_latency(max_epochs=2, seed=5)
    # Other class weights, same graph: a third of the "zero" TRAIN images left out.
    zeros = [e for e in examples if e.labels == ("zero",) and e.split == Split.TRAIN]
    fewer_zeros = [e for e in examples if e not in zeros[::3]]
    other = replace(config, seed=6)
    first = train(examples, config, tmp_path / "first")
    between = train(fewer_zeros, other, tmp_path / "between")  # reuses, another seed
    again = train(examples, config, tmp_path / "again")  # reuses, back to the first seed
    assert traced == [0, 1, 1], "each warm-up after the first ran on steps traced already"
    trainer_module.forget_compiled_steps()
    alone = train(fewer_zeros, other, tmp_path / "alone")  # traced anew
    assert traced[-1] == 0

    assert _tflite(again) == _tflite(first)
    assert [h.val_loss for h in again.history] == [h.val_loss for h in first.history]
    assert _tflite(between) == _tflite(alone)
    assert [h.val_loss for h in between.history] == [h.val_loss for h in alone.history]
    assert _tflite(between) != _tflite(first)


def test_a_training_of_another_graph_traces_its_own_steps(examples, tmp_path, traced):
    """Another label count after a training: a graph of its own, traced anew, and a model
    with its own head."""
    config = _low_latency(max_epochs=1)
    train(examples, config, tmp_path / "three")
    two = _zero_or_one(examples)
    result = train(two, replace(config, labels=("zero", "one")), tmp_path / "two")
    assert traced == [0, 0]
    interpreter = Interpreter(model_path=str(result.model_dir / "model.tflite"))
    assert [int(d["shape"][-1]) for d in interpreter.get_output_details()] == [2]


def test_a_graph_traced_before_another_one_is_reused_after_it(examples, tmp_path, traced):
    """A process alternates between graphs (a test file per model type, the rehearsal's types):
    the traced steps of the last few graphs are kept, not only the last one's, and a model
    trained on kept steps, or traced while another graph is kept, is the same bytes as one
    traced alone."""
    config = _low_latency(max_epochs=1)
    two = _zero_or_one(examples)
    two_config = replace(config, labels=("zero", "one"))
    first = train(examples, config, tmp_path / "first")
    other = train(two, two_config, tmp_path / "other")  # another graph, traced anew
    again = train(examples, config, tmp_path / "again")  # the first graph's kept steps
    assert traced == [0, 0, 1]
    trainer_module.forget_compiled_steps()
    alone = train(two, two_config, tmp_path / "alone")
    assert traced[-1] == 0

    assert _tflite(again) == _tflite(first)
    assert _tflite(other) == _tflite(alone)
