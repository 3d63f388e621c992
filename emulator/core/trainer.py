"""Trains an image classifier for an AutoML model type within a node-hour budget.

Facade-neutral: inputs are plain examples and a config, the output is a model directory
(written atomically) and a `TrainingResult`. The AutoML/Vertex facades translate.

Budget. `budget_milli_node_hours` becomes a wall-clock cap of budget/1000 × seconds-per-node-hour
(default 60 s, `EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR` or the `seconds_per_node_hour`
field override it). Training stops at whichever comes first: the cap (mid-epoch, checked after
every batch) → `BUDGET_REACHED`; early stopping on validation loss → `MODEL_CONVERGED`; the
optional `max_epochs` (an epoch budget, for reproducible runs) → `BUDGET_REACHED`. The best
epoch's weights (lowest validation loss) are kept. `train_cost_milli_node_hours` is the elapsed
time in milli node hours rounded up to a whole unit (the field is an integer and the API
guarantees it never exceeds the budget, so it is capped there). A cancelled run raises
`TrainingCancelled`, which carries the cost so far (Google bills cancelled training time).

Augmentation (training batches only; never validation, test or export). Chosen so that
orientation-sensitive content survives: a random shift of up to 1/8 of the side (pad with the
edge pixels, then crop: a "random crop"), brightness ±20 % and contrast ±20 %. Horizontal flip is
available (`Augmentation(horizontal_flip=True)`) but off by default: mirroring changes the
meaning of digits, letters, arrows and signs, and on scikit-learn's digits it costs accuracy
(see bench/bench_digits_training.py). Multiclass training weights each class by
n / (k · n_class) so that rare labels count as much as common ones.

Determinism. One seed drives weight initialisation, shuffling and augmentation; TensorFlow runs
with op determinism and oneDNN off (tf_setup). Two runs with the same seed, data and config that
stop after the same number of epochs (early stopping, `max_epochs`) produce the same weights and
the same .tflite bytes; a run cut by the wall-clock cap stops after however many batches the
machine managed, so it is only as reproducible as the machine's speed.

Trainings run one at a time per process (a lock; waiting for it is neither billed nor counted
against the budget, and a cancel while waiting is honoured).
"""

import json
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import numpy as np

from emulator.core import images
from emulator.core.architectures import (
    MOBILE_MODEL_TYPES,
    Architecture,
    ArchitectureError,
    architecture,
    build_model,
    build_transfer_model,
)
from emulator.core.exporter import (
    REPRESENTATIVE_FILE,
    SAVED_MODEL_DIR,
    TFLITE_FILE,
    convert_tflite,
    metadata_for,
    write_labels_and_metadata,
    write_saved_model,
)
from emulator.core.tf_setup import keras, seed_everything, tensorflow, tf_lock

SECONDS_PER_NODE_HOUR_ENV = "EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR"
DEFAULT_SECONDS_PER_NODE_HOUR = 60.0
# Optional, for reproducible runs on machines of any speed (CI): the budget counts epochs,
# not seconds. 1 node hour = this many epochs; the wall clock then plays no part.
EPOCHS_PER_NODE_HOUR_ENV = "EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR"

MODEL_CONVERGED = "MODEL_CONVERGED"
BUDGET_REACHED = "BUDGET_REACHED"

# AutoML v1 ImageClassificationModelMetadata.train_budget_milli_node_hours: limits and the
# default when unset (one day of wall time: 24,000 for mobile types, 192,000 for cloud).
BUDGET_LIMITS = {"mobile": (1_000, 100_000), "cloud": (8_000, 800_000)}
DEFAULT_BUDGETS = {"mobile": 24_000, "cloud": 192_000}

# Files of a trained model directory (see `train`) besides those exports use (exporter.py).
KERAS_FILE = "model.keras"
TRAINING_FILE = "training.json"

REPRESENTATIVE_COUNT = 200


class Split(StrEnum):
    """ML_USE of an example, as in AutoML's CSV import."""

    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"


@dataclass(frozen=True)
class Example:
    """One image with its ground-truth labels and split."""

    data: bytes  # encoded image, any format images.sniff_format accepts
    labels: tuple[str, ...]
    split: Split


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training batches only."""

    horizontal_flip: bool = False
    max_shift: float = 0.125  # fraction of the side
    brightness: float = 0.2  # ± fraction of the 0–255 range
    contrast: float = 0.2  # ± fraction around each image's mean


@dataclass(frozen=True)
class TrainingConfig:
    """What to train. Defaults mirror AutoML where it has one."""

    labels: tuple[str, ...]  # output order of the model
    multilabel: bool = False
    model_type: str = "cloud"  # AutoML's default model_type
    budget_milli_node_hours: int | None = None  # None: the API's default for the model type
    seconds_per_node_hour: float | None = None  # None: env var, else 60 s
    epochs_per_node_hour: float | None = None  # None: env var, else the wall clock decides
    seed: int = 0
    base_model_path: Path | None = None  # .keras file or SavedModel dir for transfer learning
    max_epochs: int | None = None
    patience: int = 6  # epochs without val-loss improvement before MODEL_CONVERGED
    # No early stop (or learning-rate cut) before this many optimizer steps: on a small
    # dataset an epoch is 1–2 steps, and the validation loss of a fresh network first rises
    # while BatchNorm statistics settle (epochs alone would stop it before it learnt).
    warmup_steps: int = 300
    min_delta: float = 1e-3
    augmentation: Augmentation = field(default_factory=Augmentation)


@dataclass(frozen=True)
class TrainingProgress:
    """Reported after every completed epoch."""

    epoch: int
    elapsed_seconds: float
    budget_seconds: float
    budget_fraction: float  # elapsed / budget, 0–1
    train_loss: float
    val_loss: float
    train_accuracy: float
    val_accuracy: float


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    elapsed_seconds: float
    learning_rate: float
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class TrainingResult:
    model_dir: Path
    model_type: str
    labels: tuple[str, ...]
    multilabel: bool
    input_size: int
    stop_reason: str  # MODEL_CONVERGED | BUDGET_REACHED
    budget_milli_node_hours: int
    train_cost_milli_node_hours: int
    seconds_per_node_hour: float
    elapsed_seconds: float
    epochs: int  # completed epochs
    best_epoch: int  # 0 when no epoch completed (the last weights are kept)
    train_example_count: int
    validation_example_count: int
    history: tuple[EpochRecord, ...]


class TrainingError(ValueError):
    """Invalid training input; the message names the field or example and what is allowed."""


class TrainingCancelled(Exception):
    """Training stopped because the cancel event was set; nothing was written."""

    def __init__(self, elapsed_seconds: float, cost_milli_node_hours: int, epochs: int) -> None:
        super().__init__(f"training cancelled after {elapsed_seconds:.1f}s ({epochs} epochs)")
        self.elapsed_seconds = elapsed_seconds
        self.cost_milli_node_hours = cost_milli_node_hours
        self.epochs = epochs


ProgressCallback = Callable[[TrainingProgress], None]

_training_lock = threading.Lock()


def seconds_per_node_hour(value: float | None = None) -> float:
    """The budget scale: `value`, else the environment variable, else 60 s."""
    scale = _positive_setting(value, "seconds_per_node_hour", SECONDS_PER_NODE_HOUR_ENV, "seconds")
    return DEFAULT_SECONDS_PER_NODE_HOUR if scale is None else scale


def epochs_per_node_hour(value: float | None = None) -> float | None:
    """The epoch budget scale, when training counts epochs instead of seconds (else None)."""
    return _positive_setting(value, "epochs_per_node_hour", EPOCHS_PER_NODE_HOUR_ENV, "epochs")


def _positive_setting(value: float | None, name: str, env: str, unit: str) -> float | None:
    """`value`, else the environment variable `env` (None when unset): a positive number."""
    source = name
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return None
        source = env
        try:
            value = float(raw)
        except ValueError:
            raise TrainingError(
                f"{source}={raw!r} is not a number; a positive number of {unit} is allowed"
            ) from None
    if not math.isfinite(value) or value <= 0:
        raise TrainingError(f"{source}={value!r}: a positive number of {unit} is allowed")
    return float(value)


def train_cost_milli_node_hours(elapsed_seconds: float, scale: float, budget: int) -> int:
    """Elapsed wall time in milli node hours, rounded up to a whole unit, capped at the budget."""
    return min(budget, max(0, math.ceil(elapsed_seconds / scale * 1000 - 1e-9)))


def _budget_family(model_type: str) -> str:
    return "mobile" if model_type in MOBILE_MODEL_TYPES else "cloud"


def budget_limits(model_type: str) -> tuple[int, int]:
    """The allowed train_budget_milli_node_hours of a model type: (lowest, highest)."""
    return BUDGET_LIMITS[_budget_family(model_type)]


def validate_config(config: TrainingConfig) -> TrainingConfig:
    """Checks a config without training (for synchronous API errors).

    Returns it with the defaults resolved: the budget (the API's default for the model type)
    and seconds_per_node_hour (environment variable or 60 s).
    """
    try:
        architecture(config.model_type)
    except ArchitectureError as exc:
        raise TrainingError(str(exc)) from None
    low, high = budget_limits(config.model_type)
    budget = config.budget_milli_node_hours
    if budget is None:
        budget = DEFAULT_BUDGETS[_budget_family(config.model_type)]
    if isinstance(budget, bool) or not isinstance(budget, int) or not low <= budget <= high:
        raise TrainingError(
            f"train_budget_milli_node_hours={budget!r} is out of range for model_type "
            f"{config.model_type!r}: allowed {low:,}–{high:,} (1,000 = 1 node hour)"
        )
    if len(config.labels) < 2:
        raise TrainingError(f"labels: {len(config.labels)} given; at least 2 labels are needed")
    if len(set(config.labels)) != len(config.labels):
        raise TrainingError(f"labels: duplicates in {list(config.labels)}; labels must be unique")
    scale = seconds_per_node_hour(config.seconds_per_node_hour)
    if config.max_epochs is not None and config.max_epochs < 1:
        raise TrainingError(f"max_epochs={config.max_epochs}: at least 1 is allowed")
    if config.patience < 1:
        raise TrainingError(f"patience={config.patience}: at least 1 is allowed")
    if config.base_model_path is not None and not Path(config.base_model_path).exists():
        raise TrainingError(f"base model {config.base_model_path}: no such file or directory")
    return replace(
        config,
        budget_milli_node_hours=budget,
        seconds_per_node_hour=scale,
        epochs_per_node_hour=epochs_per_node_hour(config.epochs_per_node_hour),
    )


def train(
    examples: Sequence[Example],
    config: TrainingConfig,
    output_dir: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TrainingResult:
    """Trains on TRAIN, early-stops on VALIDATION, writes the model directory atomically.

    `output_dir` must not exist; it appears complete or not at all, holding `model.keras`,
    `saved_model/`, `model.tflite` (float32, what evaluation and prediction run), `dict.txt`,
    `tflite_metadata.json`, `representative.npy` (TRAIN images for int8 calibration) and
    `training.json` (config and result). TEST examples are ignored here.
    """
    config = validate_config(config)
    arch, scale = architecture(config.model_type), config.seconds_per_node_hour
    output_dir = Path(output_dir)
    if output_dir.exists():
        raise TrainingError(f"output directory {output_dir} already exists; a new path is needed")
    cancel = cancel or threading.Event()
    while not _training_lock.acquire(timeout=0.1):
        if cancel.is_set():
            raise TrainingCancelled(0.0, 0, 0)
    try:
        with tf_lock():
            return _train_locked(examples, config, arch, scale, output_dir, progress, cancel)
    finally:
        _training_lock.release()


@dataclass
class _Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _train_locked(
    examples: Sequence[Example],
    config: TrainingConfig,
    arch: Architecture,
    scale: float,
    output_dir: Path,
    progress: ProgressCallback | None,
    cancel: threading.Event,
) -> TrainingResult:
    k = keras()
    started = time.monotonic()
    budget_seconds = config.budget_milli_node_hours / 1000 * scale
    deadline = started + budget_seconds
    epoch_budget = None
    if config.epochs_per_node_hour is not None:  # epochs, not seconds: no wall clock
        epoch_budget = max(
            1, math.floor(config.budget_milli_node_hours / 1000 * config.epochs_per_node_hour)
        )
        deadline = math.inf

    def cost(elapsed: float, epochs: int) -> int:
        if epoch_budget is None:
            return train_cost_milli_node_hours(elapsed, scale, config.budget_milli_node_hours)
        used = math.ceil(epochs / epoch_budget * config.budget_milli_node_hours - 1e-9)
        return min(config.budget_milli_node_hours, max(1, used))

    def cancelled(epochs: int) -> TrainingCancelled:
        elapsed = time.monotonic() - started
        return TrainingCancelled(elapsed, cost(elapsed, epochs), epochs)

    k.backend.clear_session()
    seed_everything(config.seed)
    if config.base_model_path is not None:
        try:
            model, input_size = build_transfer_model(
                Path(config.base_model_path), arch, len(config.labels), config.multilabel
            )
        except ArchitectureError as exc:
            raise TrainingError(str(exc)) from None
        learning_rate = arch.learning_rate / 10  # fine-tuning: small steps
    else:
        model = build_model(arch, len(config.labels), config.multilabel)
        input_size = arch.input_size
        learning_rate = arch.learning_rate
    data = _prepare(examples, config, input_size, cancel)
    if data is None or cancel.is_set():
        raise cancelled(0)

    model.compile(
        optimizer=k.optimizers.Adam(learning_rate),
        loss="binary_crossentropy" if config.multilabel else "sparse_categorical_crossentropy",
        metrics=["binary_accuracy" if config.multilabel else "sparse_categorical_accuracy"],
    )
    class_weight = None if config.multilabel else _class_weights(data.y_train, len(config.labels))
    stopper = _batch_stopper(deadline, cancel)
    rng = np.random.default_rng(config.seed)
    history: list[EpochRecord] = []
    best_loss, best_weights, best_epoch, waited = math.inf, None, 0, 0
    stop_reason = BUDGET_REACHED
    lr_patience = max(1, config.patience // 2)
    steps_per_epoch = math.ceil(len(data.x_train) / arch.batch_size)
    epoch = 0
    while config.max_epochs is None or epoch < config.max_epochs:
        if cancel.is_set():
            raise cancelled(epoch)
        if time.monotonic() >= deadline or (epoch_budget is not None and epoch >= epoch_budget):
            break
        x, y = augmented_epoch(data.x_train, data.y_train, config.augmentation, rng)
        fit = model.fit(
            x,
            y,
            batch_size=arch.batch_size,
            epochs=1,
            shuffle=False,
            class_weight=class_weight,
            callbacks=[stopper],
            verbose=0,
        )
        if stopper.cancelled:
            raise cancelled(epoch)
        if stopper.deadline_hit:
            break  # a partial epoch: not validated, the best complete epoch wins
        epoch += 1
        val = model.evaluate(data.x_val, data.y_val, batch_size=64, verbose=0, return_dict=True)
        record = EpochRecord(
            epoch=epoch,
            elapsed_seconds=round(time.monotonic() - started, 3),
            learning_rate=float(k.ops.convert_to_numpy(model.optimizer.learning_rate)),
            train_loss=float(fit.history["loss"][-1]),
            train_accuracy=float(_accuracy(fit.history)),
            val_loss=float(val["loss"]),
            val_accuracy=float(_accuracy(val)),
        )
        history.append(record)
        if progress is not None:
            progress(
                TrainingProgress(
                    epoch=epoch,
                    elapsed_seconds=record.elapsed_seconds,
                    budget_seconds=budget_seconds,
                    budget_fraction=(
                        min(1.0, record.elapsed_seconds / budget_seconds)
                        if epoch_budget is None
                        else epoch / epoch_budget
                    ),
                    train_loss=record.train_loss,
                    val_loss=record.val_loss,
                    train_accuracy=record.train_accuracy,
                    val_accuracy=record.val_accuracy,
                )
            )
        if record.val_loss < best_loss - config.min_delta:
            best_loss, best_weights, best_epoch, waited = (
                record.val_loss,
                model.get_weights(),
                epoch,
                0,
            )
            continue
        if epoch * steps_per_epoch < config.warmup_steps:
            continue
        waited += 1
        if waited >= config.patience:
            stop_reason = MODEL_CONVERGED
            break
        if waited % lr_patience == 0:  # plateau: halve the learning rate
            model.optimizer.learning_rate.assign(record.learning_rate / 2)
    elapsed = time.monotonic() - started
    if best_weights is not None:
        model.set_weights(best_weights)
    if cancel.is_set():
        raise cancelled(epoch)

    result = TrainingResult(
        model_dir=output_dir,
        model_type=config.model_type,
        labels=tuple(config.labels),
        multilabel=config.multilabel,
        input_size=input_size,
        stop_reason=stop_reason,
        budget_milli_node_hours=config.budget_milli_node_hours,
        train_cost_milli_node_hours=cost(elapsed, epoch),
        seconds_per_node_hour=scale,
        elapsed_seconds=round(elapsed, 3),
        epochs=epoch,
        best_epoch=best_epoch,
        train_example_count=len(data.x_train),
        validation_example_count=len(data.x_val),
        history=tuple(history),
    )
    _write_model_dir(model, data, config, result, rng)
    return result


def _batch_stopper(deadline: float, cancel: threading.Event):
    """A Keras callback that stops fit after the current batch on cancel or at the deadline."""

    class BatchStopper(keras().callbacks.Callback):
        cancelled = False
        deadline_hit = False

        def on_train_batch_end(self, batch, logs=None) -> None:
            if cancel.is_set():
                self.cancelled = True
            elif time.monotonic() >= deadline:
                self.deadline_hit = True
            else:
                return
            self.model.stop_training = True

    return BatchStopper()


def _accuracy(logs: dict) -> float:
    for key in ("sparse_categorical_accuracy", "binary_accuracy"):
        if key in logs:
            value = logs[key]
            return value[-1] if isinstance(value, list) else value
    return float("nan")


def _prepare(
    examples: Sequence[Example], config: TrainingConfig, size: int, cancel: threading.Event
) -> _Data | None:
    """Decodes TRAIN and VALIDATION images at the model's input size; checks labels.

    None when `cancel` is set meanwhile (the images decoded so far prove nothing).
    """
    index = {label: i for i, label in enumerate(config.labels)}
    xs: dict[Split, list[np.ndarray]] = {Split.TRAIN: [], Split.VALIDATION: []}
    ys: dict[Split, list] = {Split.TRAIN: [], Split.VALIDATION: []}
    for n, example in enumerate(examples):
        if cancel.is_set():
            return None
        split = Split(example.split)
        if split == Split.TEST:
            continue
        unknown = [label for label in example.labels if label not in index]
        if unknown:
            raise TrainingError(
                f"example {n}: label(s) {unknown} are not in the model's labels "
                f"{list(config.labels)}"
            )
        if config.multilabel:
            target = np.zeros(len(config.labels), np.float32)
            target[[index[label] for label in example.labels]] = 1.0
        else:
            if len(example.labels) > 1:
                raise TrainingError(
                    f"example {n}: {len(example.labels)} labels {list(example.labels)}; "
                    "a multiclass model allows exactly 1 label per image"
                )
            if not example.labels:
                continue  # unlabeled images do not take part in multiclass training
            target = index[example.labels[0]]
        try:
            pixels = images.decode_rgb(example.data, size)
        except Exception as exc:  # PIL raises several types for corrupt data
            raise TrainingError(f"example {n}: image cannot be decoded: {exc}") from None
        xs[split].append(pixels)
        ys[split].append(target)
    if not xs[Split.TRAIN]:
        raise TrainingError("no TRAIN examples with labels; at least 1 is needed")
    x_train = np.stack(xs[Split.TRAIN])
    y_train = np.asarray(ys[Split.TRAIN])
    if xs[Split.VALIDATION]:
        x_val, y_val = np.stack(xs[Split.VALIDATION]), np.asarray(ys[Split.VALIDATION])
    else:
        # No VALIDATION split: hold out every 10th TRAIN image (deterministic), as AutoML
        # carves one out of the data when none is given.
        held = np.arange(len(x_train)) % 10 == 9
        if not held.any() or held.all():
            held = np.zeros(len(x_train), bool)
            held[-1] = True
        x_val, y_val = x_train[held], y_train[held]
        if len(x_train) > 1:
            x_train, y_train = x_train[~held], y_train[~held]
    return _Data(x_train, y_train, x_val, y_val)


def _class_weights(y: np.ndarray, num_labels: int) -> dict[int, float]:
    """Balanced class weights n / (k · n_class) over the classes present in TRAIN."""
    counts = np.bincount(y.astype(np.int64), minlength=num_labels)
    present = int((counts > 0).sum())
    return {c: (len(y) / (present * counts[c]) if counts[c] else 1.0) for c in range(num_labels)}


def augmented_epoch(
    x: np.ndarray, y: np.ndarray, aug: Augmentation, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A shuffled, randomly shifted/lit copy of the training images as float32 0–255."""
    n, size = len(x), x.shape[1]
    order = rng.permutation(n)
    x, y = x[order], y[order]
    pad = round(size * aug.max_shift)
    out = np.empty(x.shape, np.float32)
    if pad:
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
        offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
        for i, (dy, dx) in enumerate(offsets):
            out[i] = padded[i, dy : dy + size, dx : dx + size]
    else:
        out[:] = x
    if aug.horizontal_flip:
        flip = rng.random(n) < 0.5
        out[flip] = out[flip, :, ::-1]
    if aug.contrast:
        factor = rng.uniform(1 - aug.contrast, 1 + aug.contrast, size=(n, 1, 1, 1))
        mean = out.mean(axis=(1, 2, 3), keepdims=True)
        out = (out - mean) * factor.astype(np.float32) + mean
    if aug.brightness:
        delta = rng.uniform(-aug.brightness, aug.brightness, size=(n, 1, 1, 1)) * 255
        out += delta.astype(np.float32)
    np.clip(out, 0, 255, out=out)
    return out, y


def _write_model_dir(
    model,
    data: _Data,
    config: TrainingConfig,
    result: TrainingResult,
    rng: np.random.Generator,
) -> None:
    """Writes every file into a temporary sibling, then renames it into place."""
    output_dir = result.model_dir
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        model.save(tmp / KERAS_FILE)
        write_saved_model(model, tmp / SAVED_MODEL_DIR)
        pick = np.sort(rng.permutation(len(data.x_train))[:REPRESENTATIVE_COUNT])
        np.save(tmp / REPRESENTATIVE_FILE, data.x_train[pick])
        tflite = convert_tflite(tmp / SAVED_MODEL_DIR, result.input_size)
        (tmp / TFLITE_FILE).write_bytes(tflite)
        metadata = metadata_for(
            "tflite",
            model_type=result.model_type,
            labels=result.labels,
            multilabel=result.multilabel,
            input_size=result.input_size,
            model_content=tflite,
        )
        write_labels_and_metadata(tmp, result.labels, metadata)
        record = {
            "config": _jsonable(asdict(config)),
            "result": _jsonable(asdict(result)),
            "tensorflow": tensorflow().__version__,
        }
        (tmp / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")
        _fsync_tree(tmp)
        try:
            os.rename(tmp, output_dir)  # atomic on one filesystem
        except OSError as exc:
            raise TrainingError(
                f"output directory {output_dir} appeared during training ({exc.strerror}); "
                "the trained model was not written"
            ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def remove_partial_outputs(directory: Path) -> list[Path]:
    """Deletes temporary model/export directories a killed process left in `directory`.

    `train` and `export_model` write into `.<name>.tmp-<hex>` siblings and rename them when
    complete; after a crash or restart only such siblings can be incomplete. Returns them.
    """
    removed = []
    for path in sorted(Path(directory).glob(".*.tmp-*")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def load_training_record(model_dir: Path) -> dict:
    """The `training.json` of a trained model directory (config and result)."""
    return json.loads((Path(model_dir) / TRAINING_FILE).read_text())
