"""Trains an image classifier for an AutoML model type within a node-hour budget.

Facade-neutral: inputs are plain examples and a config, the output is a model directory
(written atomically) and a `TrainingResult`. The AutoML/Vertex facades translate.

A training has four phases, timed apart (`TrainingResult.timings`, logged):
1. setup (not billed): decode the TRAIN/VALIDATION images — once per dataset, cached for later
   trainings (training/data.py) —, build the model, trace and warm up its compiled steps — or,
   for a fresh model of the same graph as one of the last few graphs trained in this process
   (type, labels, sides, recipe but seed and class weights), reuse that model and its traced
   steps with every variable set to this training's initial values (`_Compiled`: the same
   model as traced anew, ~0.8 s less on the digits, 2-3 s on the photos);
2. epochs (billed, the budget — training/budget.py): optimizer steps and validation, under a
   warm-up + cosine learning-rate schedule, until the budget, the schedule's horizon or early
   stopping ends them (training/stopping.py, training/loop.py); the weights of the epoch with
   the lowest validation loss are kept;
3. export (not billed): model.keras, model.tflite straight from the Keras model, metadata
   (training/model_dir.py);
4. evaluation of the exported model on TEST (done by the caller: emulator/core/models/training.py).
A budget that cannot pay for one complete epoch fails with `BudgetTooSmall` (FAILED_PRECONDITION
in the API): no model, nothing billed. A cancelled run raises `TrainingCancelled`, which
carries the cost so far (Google bills cancelled training time).

Recipe. Label smoothing 0.1 (multiclass), class weights n / (k · n_class) so that rare labels
count as much as common ones, AdamW, augmentation suited to photos (training/augment.py) with
random resized crops as small as the model type's `min_crop_area` (architectures.py) and
horizontal mirrors only where the data shows that they keep labels — and there, versatile and
high accuracy also average each image with its mirror at inference (architectures.py).

Determinism. One seed drives weight initialisation, shuffling and augmentation; TensorFlow runs
with op determinism (tf_setup). With an epoch budget
(`EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR`) or `max_epochs`, two runs with the same seed,
data and config produce the same weights and the same .tflite bytes. So do two runs under a
wall-clock budget whose pace, at the end of every epoch, had the budget pay for the schedule's
whole horizon: the schedule follows the steps alone until the pace of the epochs run so far
says the budget will end the training first (training/stopping.py), so neither the machine's
speed nor the wait for the first batch changes a rate. A training nearer its budget's end
(whose pace says the budget ends it first) learns at rates that follow its pace and stops
after however many steps the machine managed, so it is only as reproducible as the machine's
speed.

Trainings run one at a time per process (a lock; waiting for it is neither billed nor counted
against the budget, and a cancel while waiting is honoured).
"""

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from emulator.core import images
from emulator.core.architectures import (
    LARGEST_INPUT,
    MOBILE_MODEL_TYPES,
    ArchitectureError,
    any_side_core,
    architecture,
    build_model,
    build_transfer_model,
    core_of,
)
from emulator.core.exporter import KERAS_FILE
from emulator.core.tf_setup import keras, seed_everything, tensorflow, tf_lock
from emulator.core.training.augment import Augmentation, mirror_keeps_labels
from emulator.core.training.budget import (
    DEFAULT_SECONDS_PER_NODE_HOUR,
    EPOCHS_PER_NODE_HOUR_ENV,
    SECONDS_PER_NODE_HOUR_ENV,
    Budget,
    BudgetClock,
    epochs_per_node_hour,
    seconds_per_node_hour,
    train_cost_milli_node_hours,
)
from emulator.core.training.data import TrainingData, fitting_side, prepare
from emulator.core.training.errors import BudgetTooSmall, TrainingCancelled, TrainingError
from emulator.core.training.loop import EpochLoop, EpochRecord, LoopOutcome, Recipe, Steps
from emulator.core.training.model_dir import (
    TRAINING_FILE,
    load_training_record,
    remove_partial_outputs,
    write_model_dir,
)
from emulator.core.training.stopping import (
    BUDGET_REACHED,
    MODEL_CONVERGED,
    EarlyStopping,
    Schedule,
)

__all__ = [
    "BUDGET_REACHED",
    "DEFAULT_SECONDS_PER_NODE_HOUR",
    "EPOCHS_PER_NODE_HOUR_ENV",
    "KERAS_FILE",
    "MODEL_CONVERGED",
    "SECONDS_PER_NODE_HOUR_ENV",
    "TRAINING_FILE",
    "Augmentation",
    "BudgetTooSmall",
    "EpochRecord",
    "TrainingCancelled",
    "TrainingError",
    "load_training_record",
    "remove_partial_outputs",
    "train_cost_milli_node_hours",
]

log = logging.getLogger(__name__)

# AutoML v1 ImageClassificationModelMetadata.train_budget_milli_node_hours: limits and the
# default when unset (one day of wall time: 24,000 for mobile types, 192,000 for cloud).
BUDGET_LIMITS = {"mobile": (1_000, 100_000), "cloud": (8_000, 800_000)}
DEFAULT_BUDGETS = {"mobile": 24_000, "cloud": 192_000}

REPRESENTATIVE_COUNT = 200
LABEL_SMOOTHING = 0.1
# The schedule's horizon: a model counts as converged after this many epochs, and at least
# this many optimizer steps (small datasets need many passes).
HORIZON_EPOCHS = 40
MIN_HORIZON_STEPS = 1_500


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
    max_epochs: int | None = None  # an epoch cap on top of the budget (BUDGET_REACHED)
    patience: int | None = None  # epochs without improvement; None: ½ of the horizon, ≥ 6
    # No early stop before this many optimizer steps (see training/stopping.py).
    warmup_steps: int = 300
    min_delta: float = 1e-3
    augmentation: Augmentation = field(default_factory=Augmentation)


@dataclass(frozen=True)
class TrainingProgress:
    """Reported after every completed epoch."""

    epoch: int
    elapsed_seconds: float  # billed training seconds so far
    budget_seconds: float
    budget_fraction: float  # of the budget spent, 0–1
    train_loss: float
    val_loss: float
    train_accuracy: float
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
    train_cost_milli_node_hours: int  # billed: the epochs' time (or share of the epoch budget)
    seconds_per_node_hour: float
    elapsed_seconds: float  # billed training seconds (setup and export are not)
    epochs: int  # completed epochs
    best_epoch: int  # the epoch whose weights were kept
    train_example_count: int
    validation_example_count: int
    history: tuple[EpochRecord, ...]
    horizontal_flip: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # setup, epochs, export (seconds)

    def summary(self) -> dict:
        """How the model was trained, as tflite_metadata.json's `training` records it."""
        return {
            "stopReason": self.stop_reason,
            "epochsRun": self.epochs,
            "bestEpoch": self.best_epoch,
            "budgetMilliNodeHours": self.budget_milli_node_hours,
            "trainCostMilliNodeHours": self.train_cost_milli_node_hours,
            "trainingSeconds": self.elapsed_seconds,
        }


ProgressCallback = Callable[[TrainingProgress], None]

_training_lock = threading.Lock()


@dataclass
class _Compiled:
    """A fresh model trained in this process and its traced steps, kept for a later training of
    the same graph (tracing is most of a small training's setup: ~1 s of ~1.3 s for the
    low-latency type on 32-px digits; 2.3-3.2 s for the larger types on 64-px photos)."""

    model: Any  # keras.Model
    steps: Steps


# The kept graphs by graph key (`_Training._graph_key`), least recently used first: a process
# that alternates between a few graphs (model types, label counts) traces each once. With
# `_training_lock`.
KEPT_GRAPHS = 4
_compiled: OrderedDict[tuple[Any, ...], _Compiled] = OrderedDict()


def forget_compiled_steps() -> None:
    """Drops every kept model and its traced steps: the next training traces its own."""
    with _training_lock:
        _compiled.clear()


def _budget_family(model_type: str) -> str:
    return "mobile" if model_type in MOBILE_MODEL_TYPES else "cloud"


def budget_limits(model_type: str) -> tuple[int, int]:
    """The allowed train_budget_milli_node_hours of a model type: (lowest, highest)."""
    return BUDGET_LIMITS[_budget_family(model_type)]


def budget_of(config: TrainingConfig) -> Budget:
    """The Budget of a validated config."""
    assert config.budget_milli_node_hours is not None and config.seconds_per_node_hour
    return Budget(
        config.budget_milli_node_hours, config.seconds_per_node_hour, config.epochs_per_node_hour
    )


def validate_config(config: TrainingConfig) -> TrainingConfig:
    """Checks a config without training (for synchronous API errors).

    Returns it with the defaults resolved: the budget (the API's default for the model type),
    seconds_per_node_hour (environment variable or 60 s) and epochs_per_node_hour. An epoch
    budget that buys no epoch raises BudgetTooSmall.
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
    if config.max_epochs is not None and config.max_epochs < 1:
        raise TrainingError(f"max_epochs={config.max_epochs}: at least 1 is allowed")
    if config.patience is not None and config.patience < 1:
        raise TrainingError(f"patience={config.patience}: at least 1 is allowed")
    if config.base_model_path is not None and not Path(config.base_model_path).exists():
        raise TrainingError(f"base model {config.base_model_path}: no such file or directory")
    resolved = replace(
        config,
        budget_milli_node_hours=budget,
        seconds_per_node_hour=seconds_per_node_hour(config.seconds_per_node_hour),
        epochs_per_node_hour=epochs_per_node_hour(config.epochs_per_node_hour),
    )
    budget_of(resolved).require_an_epoch()
    return resolved


def train(
    examples: Sequence[Example],
    config: TrainingConfig,
    output_dir: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TrainingResult:
    """Trains on TRAIN, early-stops on VALIDATION, writes the model directory atomically.

    `output_dir` must not exist; it appears complete or not at all (files: training/model_dir.py).
    TEST examples are ignored here.
    """
    config = validate_config(config)
    output_dir = Path(output_dir)
    if output_dir.exists():
        raise TrainingError(f"output directory {output_dir} already exists; a new path is needed")
    cancel = cancel or threading.Event()
    while not _training_lock.acquire(timeout=0.1):
        if cancel.is_set():
            raise TrainingCancelled(0.0, 0, 0)
    try:
        with tf_lock():
            return _Training(examples, config, output_dir, progress, cancel).run()
    finally:
        _training_lock.release()


class _Training:
    """One training's phases (setup → epochs → export), each timed."""

    def __init__(self, examples, config, output_dir, progress, cancel) -> None:
        self.examples, self.config, self.output_dir = examples, config, output_dir
        self.progress, self.cancel = progress, cancel
        self.arch = architecture(config.model_type)
        self.budget = budget_of(config)
        self.timings: dict[str, float] = {}
        self.steps_reused = False  # the last training's traced steps served this one

    def run(self) -> TrainingResult:
        started = time.monotonic()
        data, model, steps = self._setup()
        self.timings["setup"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        clock = BudgetClock(self.budget)
        outcome = self._loop(data, steps, clock).run()
        self.timings["epochs"] = round(time.monotonic() - started, 3)
        if self.cancel.is_set():
            raise TrainingCancelled(
                clock.billed_seconds, clock.cost_milli_node_hours(), outcome.epochs
            )
        if self._stopping.best_weights is not None:
            model.set_weights(self._stopping.best_weights)
        result = self._result(data, steps.recipe, clock, outcome)
        started = time.monotonic()
        self._export(model, data, steps.recipe, result, started)
        self.timings["export"] = round(time.monotonic() - started, 3)
        log.info(
            "[training %s] setup %.1f s (images %s, steps %s), epochs %.1f s (%.1f s billed: "
            "%d of %d milli node hours, %s after %d epochs, best %d), export %.1f s",
            self.config.model_type,
            self.timings["setup"],
            "cached" if data.cached else "decoded",
            "reused" if self.steps_reused else "traced",
            self.timings["epochs"],
            result.elapsed_seconds,
            result.train_cost_milli_node_hours,
            result.budget_milli_node_hours,
            result.stop_reason,
            result.epochs,
            result.best_epoch,
            self.timings["export"],
        )
        return replace(result, timings=dict(self.timings))

    def _setup(self) -> tuple[TrainingData, Any, Steps]:  # Any: a keras.Model (untyped)
        """Images, model and compiled steps; nothing of this is billed."""
        config = self.config
        data = prepare(self.examples, config.labels, config.multilabel, LARGEST_INPUT, self.cancel)
        if data is None or self.cancel.is_set():
            raise TrainingCancelled(0.0, 0, 0)
        seed_everything(config.seed)
        self._flip = self._mirrors(data)
        kept = self._kept_steps(data)
        if kept is not None:
            model, steps, data = kept
            self._peak_rate = self.arch.learning_rate
            return data, model, steps
        while len(_compiled) >= KEPT_GRAPHS:  # freed before a new one is built
            _compiled.popitem(last=False)
        keras().backend.clear_session()  # auto-named objects count from 0, as in a new process
        seed_everything(config.seed)
        model, side, eval_side, learning_rate = self._model(data)
        data = replace(data, x_val=images.resize_rgb(data.x_val, eval_side))
        recipe = self._recipe(data, side, eval_side)
        optimizer = keras().optimizers.AdamW(learning_rate, weight_decay=self.arch.weight_decay)
        one_side = eval_side == side and not recipe.early_side
        core = core_of(model) if one_side else any_side_core(model)
        steps = Steps(core, optimizer, recipe)
        steps.warm_up(data.x_train, data.y_train)
        if config.base_model_path is None:
            _compiled[self._graph_key(recipe)] = _Compiled(model, steps)
        self._peak_rate = learning_rate
        return data, model, steps

    def _graph_key(self, recipe: Recipe) -> tuple[Any, ...]:
        """What decides a fresh model's graph and its traced steps: the type, the mirror
        averaging, and the recipe but for its seed and class weights (inputs of the steps)."""
        return (self.config.model_type, self._mirror_average, recipe.graph())

    def _kept_steps(self, data: TrainingData) -> tuple[Any, Steps, TrainingData] | None:
        """A kept model of this graph and its traced steps, reset for this training, when this
        is a fresh model: its variables take a freshly built model's initial values (the seed's),
        the optimizer starts anew — the same training as with steps traced anew."""
        config = self.config
        if not _compiled or config.base_model_path is not None:
            return None
        side, eval_side = self._sides(data)
        data = replace(data, x_val=images.resize_rgb(data.x_val, eval_side))
        recipe = self._recipe(data, side, eval_side)
        key = self._graph_key(recipe)
        kept = _compiled.get(key)
        if kept is None:
            return None
        _compiled.move_to_end(key)
        initial = self._fresh_model(eval_side)
        for variable, value in zip(kept.model.variables, initial.variables, strict=True):
            variable.assign(value)
        kept.steps.restart(recipe)
        kept.steps.warm_up(data.x_train, data.y_train)
        self.steps_reused = True
        return kept.model, kept.steps, data

    def _sides(self, data: TrainingData) -> tuple[int, int]:
        """(training side, inference side) of a fresh model of this type on these images."""
        side = fitting_side(data.native_side, self.arch.input_size)
        return side, max(side, fitting_side(data.native_side, self.arch.largest_side))

    def _fresh_model(self, eval_side: int):  # a keras.Model (untyped)
        config, arch = self.config, self.arch
        return build_model(
            arch,
            len(config.labels),
            config.multilabel,
            eval_side,
            config.seed,
            mirror_average=self._mirror_average,
        )

    @property
    def _mirror_average(self) -> bool:
        """Whether a fresh model averages each image with its mirror (architectures.py)."""
        return self.arch.mirror_average and self._flip

    def _model(self, data: TrainingData) -> tuple[object, int, int, float]:
        """(model, training side, inference side, peak learning rate): a fresh model or one on
        a base model. A fresh model of a type with an `inference_size` resizes to a larger side
        than its training crops, as far as the images hold detail (architectures.py)."""
        config, arch = self.config, self.arch
        side, eval_side = self._sides(data)
        if config.base_model_path is None:
            return self._fresh_model(eval_side), side, eval_side, arch.learning_rate
        try:
            model, side = build_transfer_model(
                Path(config.base_model_path),
                arch,
                len(config.labels),
                config.multilabel,
                side,
                config.seed,
            )
        except ArchitectureError as exc:
            raise TrainingError(str(exc)) from None
        return model, side, side, arch.learning_rate / 10  # fine-tuning: small steps

    def _mirrors(self, data: TrainingData) -> bool:
        """Whether mirrored images keep their labels: mirrors in training (and, for the types
        that average over them, at inference)."""
        flip = self.config.augmentation.horizontal_flip
        if flip is None:
            flip = not self.config.multilabel and mirror_keeps_labels(data.x_train, data.y_train)
        return flip

    def _recipe(self, data: TrainingData, side: int, eval_side: int) -> Recipe:
        config = self.config
        return Recipe(
            input_side=side,
            eval_side=eval_side,
            num_labels=len(config.labels),
            multilabel=config.multilabel,
            batch_size=self.arch.batch_size,
            augmentation=config.augmentation.resolved(self.arch.min_crop_area),
            flip=self._flip,
            label_smoothing=0.0 if config.multilabel else LABEL_SMOOTHING,
            weight_decay=self.arch.weight_decay,
            class_weights=None
            if config.multilabel
            else _class_weights(data.y_train, len(config.labels)),
            seed=config.seed,
            early_side=early if (early := min(self.arch.early_input_size, side)) < side else 0,
            early_until=self.arch.early_fraction,
        )

    def _loop(self, data: TrainingData, steps: Steps, clock: BudgetClock) -> EpochLoop:
        per_epoch = math.ceil(len(data.x_train) / self.arch.batch_size)
        horizon = max(MIN_HORIZON_STEPS, HORIZON_EPOCHS * per_epoch)
        patience = self.config.patience or max(6, math.ceil(horizon / per_epoch / 2))
        self._stopping = EarlyStopping(patience, self.config.min_delta, self.config.warmup_steps)
        return EpochLoop(
            steps=steps,
            data=data,
            clock=clock,
            schedule=Schedule(self._peak_rate, horizon),
            stopping=self._stopping,
            max_epochs=self.config.max_epochs,
            cancel=self.cancel,
            on_epoch=lambda record: self._report(record, clock),
        )

    def _report(self, record: EpochRecord, clock: BudgetClock) -> None:
        if self.progress is None:
            return
        self.progress(
            TrainingProgress(
                epoch=record.epoch,
                elapsed_seconds=record.elapsed_seconds,
                budget_seconds=self.budget.seconds,
                budget_fraction=clock.fraction(),
                train_loss=record.train_loss,
                val_loss=record.val_loss,
                train_accuracy=record.train_accuracy,
                val_accuracy=record.val_accuracy,
            )
        )

    def _result(
        self, data: TrainingData, recipe: Recipe, clock: BudgetClock, outcome: LoopOutcome
    ) -> TrainingResult:
        config = self.config
        return TrainingResult(
            model_dir=self.output_dir,
            model_type=config.model_type,
            labels=tuple(config.labels),
            multilabel=config.multilabel,
            input_size=recipe.eval_side,
            stop_reason=outcome.stop_reason,
            budget_milli_node_hours=self.budget.milli_node_hours,
            train_cost_milli_node_hours=clock.cost_milli_node_hours(),
            seconds_per_node_hour=self.budget.seconds_per_node_hour,
            elapsed_seconds=clock.billed_seconds,
            epochs=outcome.epochs,
            best_epoch=outcome.best_epoch,
            train_example_count=len(data.x_train),
            validation_example_count=len(data.x_val),
            history=outcome.history,
            horizontal_flip=recipe.flip,
            timings=dict(self.timings),
        )

    def _export(self, model, data, recipe: Recipe, result: TrainingResult, started: float) -> None:
        rng = np.random.default_rng(self.config.seed)
        pick = np.sort(rng.permutation(len(data.x_train))[:REPRESENTATIVE_COUNT])
        representative = images.resize_rgb(data.x_train[pick], recipe.eval_side)

        def record() -> dict:
            timings = {**self.timings, "export": round(time.monotonic() - started, 3)}
            return {
                "config": asdict(self.config),
                "result": asdict(replace(result, timings=timings)),
                "tensorflow": tensorflow().__version__,
            }

        facts = {
            "model_type": result.model_type,
            "labels": result.labels,
            "multilabel": result.multilabel,
            "input_size": result.input_size,
            "training": result.summary(),
        }
        write_model_dir(self.output_dir, model, facts, representative, record)


def _class_weights(y: np.ndarray, num_labels: int) -> tuple[float, ...]:
    """Balanced class weights n / (k · n_class) over the classes present in TRAIN."""
    counts = np.bincount(y.astype(np.int64), minlength=num_labels)
    present = int((counts > 0).sum())
    return tuple(
        float(len(y) / (present * counts[c])) if counts[c] else 1.0 for c in range(num_labels)
    )
