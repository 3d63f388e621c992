"""The training loop: compiled steps traced before the budget starts, then epochs against it.

One `tf.data` pipeline (shuffled each epoch with the training's seed) feeds a train step that
augments the batch (augment.py), computes the loss — label-smoothed cross-entropy weighted per
class for multiclass, binary cross-entropy for multilabel — and applies AdamW at the learning
rate of the schedule (stopping.py); a recipe with an early side (progressive sizing,
architectures.py) has a second train step on crops of that side, used while the schedule's
progress is below `early_until`. The compiled functions are traced and run once on a batch
before the clock starts (`warm_up`), and every variable is restored afterwards: tracing is
setup, not training, and the weights start from their seeded initial values. The traced steps
serve later trainings of the same graph too (`restart`: the recipe's seed and class weights are
inputs of the graph, not constants in it; trainer.py keeps the last training's).
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from emulator.core.tf_setup import keras, tensorflow
from emulator.core.training.augment import Augmentation, augment_batch, mix_batch
from emulator.core.training.budget import BudgetClock
from emulator.core.training.data import TrainingData
from emulator.core.training.errors import TrainingCancelled
from emulator.core.training.stopping import (
    BUDGET_REACHED,
    MODEL_CONVERGED,
    EarlyStopping,
    Schedule,
)

_EVAL_BATCH = 256
_EPS = 1e-7


@dataclass(frozen=True)
class Recipe:
    """How one model is trained (everything but its data and budget)."""

    input_side: int  # of the training crops
    eval_side: int  # of validation (and of the model at inference): ≥ input_side
    num_labels: int
    multilabel: bool
    batch_size: int
    augmentation: Augmentation
    flip: bool  # horizontal mirrors (resolved from augmentation.horizontal_flip)
    label_smoothing: float
    weight_decay: float
    class_weights: tuple[float, ...] | None  # multiclass: n / (k · n_class)
    seed: int
    # Progressive sizing: the schedule's first `early_until` of its progress trains on crops of
    # `early_side` (< input_side; 0: none), cheaper steps, then on `input_side`.
    early_side: int = 0
    early_until: float = 0.0

    def graph(self) -> "Recipe":
        """What the traced steps are made of: all but the seed and the class weights, which
        are inputs of the steps (a recipe differing only in those reuses them)."""
        return replace(self, seed=0, class_weights=None)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    elapsed_seconds: float  # billed training seconds so far
    learning_rate: float
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class LoopOutcome:
    stop_reason: str
    epochs: int
    best_epoch: int
    steps: int
    history: tuple[EpochRecord, ...]


class Steps:
    """The compiled train and predict functions of one model and optimizer."""

    def __init__(self, model, optimizer, recipe: Recipe) -> None:
        tf, k = tensorflow(), keras()
        self.model, self.optimizer, self.recipe = model, optimizer, recipe
        target_spec = (
            tf.TensorSpec([None, recipe.num_labels], tf.float32)
            if recipe.multilabel
            else tf.TensorSpec([None], tf.int64)
        )
        pixels_spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
        # A variable, not a constant: a later training of the same graph sets its own.
        weights = tf.Variable(
            recipe.class_weights or [1.0] * recipe.num_labels, trainable=False, dtype=tf.float32
        )
        self._class_weights = weights
        self._optimizer_start: list[Any] = []

        def targets_and_weights(y):
            """Dense targets (label-smoothed one-hot for multiclass) and per-image weights."""
            if recipe.multilabel:
                return y, tf.ones_like(y[:, 0])
            n = recipe.num_labels
            smooth = tf.one_hot(y, n) * (1 - recipe.label_smoothing) + recipe.label_smoothing / n
            return smooth, tf.gather(weights, y)

        def hits_of(y, scores):
            if recipe.multilabel:
                return tf.reduce_mean(tf.cast((scores >= 0.5) == (y >= 0.5), tf.float32), -1)
            return tf.cast(tf.argmax(scores, -1) == y, tf.float32)

        def loss_of(targets, scores):
            if recipe.multilabel:
                return k.losses.binary_crossentropy(targets, scores)
            return k.losses.categorical_crossentropy(targets, scores)

        def train_at(side: int):
            @tf.function(input_signature=[pixels_spec, target_spec, tf.TensorSpec([2], tf.int32)])
            def train(pixels, y, seed):
                return train_step(pixels, y, seed, side)

            return train

        def train_step(pixels, y, seed, side):
            x = augment_batch(pixels, seed, side, recipe.augmentation, recipe.flip)
            targets, sample_weights = targets_and_weights(y)
            if recipe.augmentation.mixup:
                x, targets, sample_weights = mix_batch(
                    x, targets, sample_weights, seed, recipe.augmentation.mixup
                )
            with tf.GradientTape() as tape:
                scores = model(x, training=True)
                loss = loss_of(targets, scores) * sample_weights
                mean_loss = tf.reduce_mean(loss)
            grads = tape.gradient(mean_loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return tf.reduce_sum(loss), tf.reduce_sum(hits_of(y, scores))

        @tf.function(input_signature=[pixels_spec])
        def predict(pixels):
            x = tf.image.resize(tf.cast(pixels, tf.float32), [recipe.eval_side] * 2)
            return model(x, training=False)

        self.train, self.predict = train_at(recipe.input_side), predict
        self.train_early = train_at(recipe.early_side) if recipe.early_side else None

    def scores(self, pixels: np.ndarray) -> np.ndarray:
        """Model scores for uint8 images of any side (resized to the input side)."""
        out = [
            self.predict(pixels[i : i + _EVAL_BATCH]).numpy()
            for i in range(0, len(pixels), _EVAL_BATCH)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.recipe.num_labels), np.float32)

    def warm_up(self, pixels: np.ndarray, y: np.ndarray) -> None:
        """Runs both functions once on one batch — tracing them the first time, and again after
        `tf.random.set_seed`, which drops TensorFlow's kernel caches (the first step after it
        costs ~0.4 s, which belongs to setup, not to the budget) — then restores every
        variable (nothing learnt)."""
        tf = tensorflow()
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
        variables = [*self.model.variables, *self.optimizer.variables]
        saved = [v.numpy() for v in variables]
        if not self._optimizer_start:
            self._optimizer_start = saved[len(self.model.variables) :]
        batch = slice(0, self.recipe.batch_size)
        self.train(pixels[batch], y[batch], tf.constant([0, 0], tf.int32))
        if self.train_early is not None:
            self.train_early(pixels[batch], y[batch], tf.constant([0, 0], tf.int32))
        self.predict(pixels[:1])
        for variable, value in zip(variables, saved, strict=True):
            variable.assign(value)

    def restart(self, recipe: Recipe) -> None:
        """Readies the traced steps (`warm_up` done) for another training of the same graph:
        its recipe (the same but for the seed and the class weights) and the optimizer's
        variables as they were before any step. The caller resets the model's variables, then
        runs `warm_up` (after seeding)."""
        if recipe.graph() != self.recipe.graph():
            raise ValueError("restart needs a recipe of the same graph")
        if not self._optimizer_start:
            raise ValueError("restart needs traced steps (warm_up first)")
        self.recipe = recipe
        self._class_weights.assign(recipe.class_weights or [1.0] * recipe.num_labels)
        for variable, value in zip(self.optimizer.variables, self._optimizer_start, strict=True):
            variable.assign(value)


def validation(steps: Steps, data: TrainingData) -> tuple[float, float]:
    """(loss, accuracy) of the model on the VALIDATION images.

    The loss is the training objective without augmentation: for multiclass, cross-entropy
    against the label-smoothed targets the model learns (against hard labels, a model trained
    on softened targets looks worse the better it fits them).
    """
    scores = np.clip(steps.scores(data.x_val).astype(np.float64), _EPS, 1 - _EPS)
    if steps.recipe.multilabel:
        y = data.y_val.astype(bool)
        loss = -np.mean(np.where(y, np.log(scores), np.log1p(-scores)))
        return float(loss), float(((scores >= 0.5) == y).mean())
    n, smoothing = steps.recipe.num_labels, steps.recipe.label_smoothing
    targets = np.full(scores.shape, smoothing / n)
    targets[np.arange(len(scores)), data.y_val] += 1 - smoothing
    loss = -np.mean(np.sum(targets * np.log(scores), axis=1))
    return float(loss), float((scores.argmax(1) == data.y_val).mean())


@dataclass
class EpochLoop:
    """Runs epochs until the budget, the schedule's horizon or early stopping ends them."""

    steps: Steps
    data: TrainingData
    clock: BudgetClock
    schedule: Schedule
    stopping: EarlyStopping
    max_epochs: int | None
    cancel: threading.Event
    on_epoch: Callable[[EpochRecord], None]
    step: int = 0
    # Optimizer steps the budget is expected to pay for (None: not known yet), see `_reach`.
    reachable: float | None = field(default=None, init=False)
    _progress: float = field(default=0.0, init=False)  # the schedule's; never goes back

    def run(self) -> LoopOutcome:
        tf = tensorflow()
        recipe = self.steps.recipe
        self.reachable = self._reach()
        dataset = (
            tf.data.Dataset.from_tensor_slices((self.data.x_train, self.data.y_train))
            .shuffle(len(self.data.x_train), seed=recipe.seed, reshuffle_each_iteration=True)
            .batch(recipe.batch_size)
            .prefetch(1)
        )
        history: list[EpochRecord] = []
        epoch_seconds = 0.0
        while True:
            reason = self._stop_before_epoch(len(history), epoch_seconds)
            if reason:
                break
            started = self.clock.seconds
            record = self._epoch(dataset, len(history) + 1)
            if record is None:  # the budget ran out inside the epoch
                reason = BUDGET_REACHED
                break
            epoch_seconds = self.clock.seconds - started
            self.reachable = self._reach()
            history.append(record)
            self.on_epoch(record)
            weights = self.steps.model.get_weights
            if self.stopping.observe(record.epoch, record.val_loss, self.step, weights):
                reason = MODEL_CONVERGED
                break
        return LoopOutcome(
            reason, len(history), self.stopping.best_epoch, self.step, tuple(history)
        )

    def _stop_before_epoch(self, done: int, last_epoch_seconds: float) -> str | None:
        """Why no further epoch starts (None: it starts)."""
        if self.cancel.is_set():
            raise self._cancelled()
        if done and self.step >= self.schedule.horizon:
            # The schedule's horizon is reached within the budget: checked first, so that the
            # label is the same whether or not the budget had room for another epoch.
            return MODEL_CONVERGED
        if self.max_epochs is not None and done >= self.max_epochs:
            return BUDGET_REACHED
        if self.clock.exhausted():
            return BUDGET_REACHED
        budget = self.clock.budget
        if not budget.counts_epochs and self.clock.seconds + last_epoch_seconds > budget.seconds:
            return BUDGET_REACHED  # another epoch would not fit: stop, and bill less
        if done and self._advance() >= 1.0:
            # The rate has annealed to zero where the budget was expected to end: another
            # epoch would change no weight; stop, and bill less.
            return BUDGET_REACHED
        return None

    def _reach(self) -> float | None:
        """The optimizer steps the budget is expected to pay for: an epoch budget's epochs
        (known from the start), or a wall-clock budget's seconds at the pace of the epochs run
        so far (None before the first: the steps alone lead the schedule until one epoch has
        measured the pace, so the wait for the first batch plays no part in it)."""
        epochs = self.clock.budget.epochs
        if epochs is not None:
            return max(1.0, epochs) * self._per_epoch  # as BudgetClock.fraction counts them
        spent = self.clock.fraction()
        return self.step / spent if self.step and spent > 0 else None

    @property
    def _per_epoch(self) -> int:
        """Optimizer steps in one epoch (the last batch may be short)."""
        return math.ceil(len(self.data.x_train) / self.steps.recipe.batch_size)

    def _advance(self) -> float:
        """The schedule's progress at this step (never less than it was)."""
        self._progress = max(self._progress, self.schedule.progress(self.step, self.reachable))
        return self._progress

    def _epoch(self, dataset, epoch: int) -> EpochRecord | None:
        """One epoch and its validation, timed by the clock; None when the budget ran out."""
        tf = tensorflow()
        recipe = self.steps.recipe
        losses, hits, rate = [], [], 0.0
        with self.clock.running():
            for batch, (pixels, y) in enumerate(dataset):
                if self.cancel.is_set():
                    raise self._cancelled()
                progress = self._advance()
                rate = self.schedule.rate(progress)
                self.steps.optimizer.learning_rate.assign(rate)
                seed = tf.constant([recipe.seed, self.step], tf.int32)
                train = self.steps.train
                if self.steps.train_early is not None and progress < recipe.early_until:
                    train = self.steps.train_early
                loss, hit = train(pixels, y, seed)
                losses.append(loss)
                hits.append(hit)
                self.step += 1
                if not self.clock.budget.counts_epochs and self.clock.exhausted():
                    if epoch == 1:
                        raise self.clock.budget.too_small(
                            self.clock.seconds / (batch + 1) * self._per_epoch,
                            len(self.data.x_train),
                        )
                    return None
            val_loss, val_accuracy = validation(self.steps, self.data)
        self.clock.epochs_done += 1
        count = len(self.data.x_train)
        return EpochRecord(
            epoch=epoch,
            elapsed_seconds=self.clock.billed_seconds,
            learning_rate=rate,
            train_loss=float(np.sum([float(v) for v in losses]) / count),
            train_accuracy=float(np.sum([float(v) for v in hits]) / count),
            val_loss=val_loss,
            val_accuracy=val_accuracy,
        )

    def _cancelled(self) -> TrainingCancelled:
        return TrainingCancelled(
            self.clock.billed_seconds, self.clock.cost_milli_node_hours(), self.clock.epochs_done
        )


def seconds_since(started: float) -> float:
    return round(time.monotonic() - started, 3)
