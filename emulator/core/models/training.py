"""Training: a checked request, a background `create_model` operation, a committed model.

`ModelTrainings.start` checks the request synchronously (display name, labels, dataset and
its splits, model type, budget, base model) and trains in a background `create_model`
operation, which reports the budget fraction as progress and the latest epoch, losses and
accuracy as operation details. A model exists once its training committed: the engine writes
the trained model directory atomically, its TF Lite model (what `tflite` exports) is evaluated
on the TEST split, then one atomic write of its record (records.py) makes the model and its
evaluations visible. Cancelled, failed or interrupted trainings leave no model and no files.
A training interrupted by the emulator stopping (cleanly or by a crash) ends as an ABORTED
operation that says so, and what it had written is removed on the next start.

Emulator-only (the service has no such inputs; both are ignored or refused by it):
- `base_model_id` may be `file:///absolute/path` naming a Keras `.keras` file or a SavedModel
  directory on the emulator's machine (transfer learning from a local model; the service only
  takes the id of another model of the same location and model type);
- the model label `edge-labeler-seed` (digits) seeds training (weights, shuffling,
  augmentation); without it the seed is 0. To the service it is just a label.

Checkpoint (fault injection, see faults.py): `CreateModel.commit` (trained and evaluated, not
yet committed).
"""

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from emulator.core import evaluator, trainer
from emulator.core.architectures import MODEL_TYPES
from emulator.core.datasets import (
    ClassificationType,
    Dataset,
    DatasetStore,
    Example,
    validate_resource_labels,
)
from emulator.core.errors import (
    Cancelled,
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    Status,
    Unimplemented,
)
from emulator.core.import_csv import MlUse
from emulator.core.models.records import (
    DeploymentState,
    Model,
    ModelEvaluation,
    ModelRecord,
    ModelStore,
    validate_display_name,
)
from emulator.core.names import LocationName, new_id, stable_id
from emulator.core.operations import Operation, OperationContext, OperationStore, Outcome, utcnow

log = logging.getLogger(__name__)

DEFAULT_MODEL_TYPE = "cloud"  # the API's default model_type
# Model types the API knows for image classification that the emulator does not train.
CORE_ML_MODEL_TYPES = (
    "mobile-core-ml-low-latency-1",
    "mobile-core-ml-versatile-1",
    "mobile-core-ml-high-accuracy-1",
)
BASE_MODEL_FILE_PREFIX = "file://"
SEED_LABEL = "edge-labeler-seed"
TRAINING_COMMIT_STEP = "CreateModel.commit"

# The role of an example in one training (TRAIN, VALIDATION, TEST), or None: left out.
SplitAssignment = Callable[[Example], MlUse | None]


@dataclass(frozen=True)
class TrainingFields:
    """Where the facade's request holds each input (for `Field: …` in error messages)."""

    display_name: str
    labels: str
    dataset_id: str
    metadata: str  # the message with model_type, base_model_id and the budget (AutoML's names)


@dataclass(frozen=True)
class TrainingRequest:
    """What to train: a model of `model_type` on a dataset of the same location."""

    display_name: str
    dataset_id: str
    model_type: str  # "" for the default (cloud)
    budget_milli_node_hours: int | None  # None for the model type's default
    fields: TrainingFields
    base_model_id: str = ""  # a model of the same location, or file:///path (emulator-only)
    labels: Mapping[str, str] = field(default_factory=dict)
    # Each example's role for this training (e.g. Vertex AI's FilterSplit); by default the
    # ML_USE it was imported with (UNASSIGNED: split 80/10/10 by content hash).
    split: SplitAssignment | None = None
    # The API's display name rule: (display name, request field) → InvalidArgument or None.
    check_display_name: Callable[[str, str], None] = validate_display_name


@dataclass(frozen=True)
class _TrainingPlan:
    """A checked request, what its background work needs."""

    model: Model  # the model to be (its create/update time and cost are set at commit)
    dataset: str
    config: trainer.TrainingConfig  # defaults resolved
    label_specs: tuple[tuple[str, str], ...]
    examples: tuple[Example, ...]


class _StopSignal(threading.Event):
    """The engine's cancel event: set when the operation is cancelled or the emulator stops."""

    def __init__(self, ctx: OperationContext) -> None:
        super().__init__()
        self._ctx = ctx

    def is_set(self) -> bool:
        return super().is_set() or self._ctx.stopping()


def interrupted_training_status(op: Operation) -> Status:
    """The error of a training that the emulator stopping (or crashing) cut short."""
    details = op.details
    progress = ""
    if details.get("stage") == "evaluating":
        progress = " after training, while its model was evaluated and committed"
    elif details.get("epoch") and details.get("budget_epochs"):
        epochs = details["budget_epochs"]
        progress = f" after epoch {details['epoch']} (of its {epochs}-epoch budget)"
    elif details.get("epoch"):
        progress = (
            f" after epoch {details['epoch']} ({details['elapsed_seconds']:.0f} s of its "
            f"{details['budget_seconds']:.0f} s budget)"
        )
    return Status(
        Code.ABORTED,
        f"Training of model {details.get('display_name', '?')!r} ({op.resources[0]}) was "
        f"interrupted{progress}: the emulator stopped while it was training. No model was "
        "created; run CreateModel again.",
    )


def _stopped(ctx: OperationContext, display_name: str, when: str) -> ServiceError:
    """The error of a training that stopped early: cancelled, or cut by the emulator stopping."""
    if ctx.cancelled:
        return Cancelled(
            f"Training of model {display_name!r} was cancelled{when}; no model was created."
        )
    return ServiceError(interrupted_training_status(ctx.operation).message, Code.ABORTED)


def _model_type(request: TrainingRequest) -> str:
    """The model type to train (the default for ""), if the emulator trains it."""
    model_type = request.model_type or DEFAULT_MODEL_TYPE
    if model_type in CORE_ML_MODEL_TYPES:
        raise Unimplemented(
            f"Field: {request.fields.metadata}.model_type; Message: {model_type} (Core ML) is not "
            f"emulated; the emulator trains {', '.join(MODEL_TYPES)}"
        )
    if model_type not in MODEL_TYPES:
        raise InvalidArgument(
            f"Field: {request.fields.metadata}.model_type; Message: {model_type!r} is not a "
            f"model type; allowed: {', '.join(MODEL_TYPES)}"
        )
    return model_type


def _node_qps(seconds_per_image: float) -> float:
    """Online predictions per second one node serves: measured during evaluation."""
    return round(1.0 / max(seconds_per_image, 1e-4), 1)


class ModelTrainings:
    """Starts trainings and commits their models to the store."""

    def __init__(
        self, models: ModelStore, datasets: DatasetStore, operations: OperationStore
    ) -> None:
        self._models = models
        self._datasets = datasets
        self._operations = operations
        operations.register_recovery("create_model", self._recover)

    # ---- the request ------------------------------------------------------------------------

    def start(
        self,
        location: LocationName,
        request: TrainingRequest,
        *,
        api: str,
        id_prefix: str = "",
        parent: str | None = None,
    ) -> Operation:
        """Checks the request, then trains in a background `create_model` operation.

        `parent`: where the operation is named (default: the location, as AutoML names them).
        Its details say how far it got: `stage` `preparing` (reading the images, waiting for
        the engine), `running_since` once the first epoch reported (when training began),
        `epoch` and the losses, `stage` `evaluating` after training.
        """
        plan = self._plan(location, request, new_id(id_prefix))
        config = plan.config
        model = plan.model
        resources = [model.name, plan.dataset]
        if request.base_model_id and not request.base_model_id.startswith(BASE_MODEL_FILE_PREFIX):
            resources.append(str(location.child("models", request.base_model_id)))
        budget = trainer.budget_of(config)
        op = self._operations.start(
            parent=parent or str(location),
            api=api,
            kind="create_model",
            resources=resources,
            work=lambda ctx: self._train(ctx, plan),
            details={
                "stage": "preparing",
                "model_id": model.id,
                "display_name": model.display_name,
                "model_type": model.model_type,
                "train_budget_milli_node_hours": config.budget_milli_node_hours,
                "seconds_per_node_hour": config.seconds_per_node_hour,
                "budget_seconds": budget.seconds,
                "epochs_per_node_hour": config.epochs_per_node_hour,
                "budget_epochs": budget.epochs,  # None: the budget counts seconds
                "seed": config.seed,
            },
            id_prefix=id_prefix,
        )
        log.info(
            "[model %s] training %s on %s, budget %s",
            model.display_name,
            model.model_type,
            plan.dataset,
            budget.describe(),
        )
        return op

    def _plan(
        self, location: LocationName, request: TrainingRequest, model_id: str
    ) -> _TrainingPlan:
        """The checked request: InvalidArgument, NotFound, ... before anything starts."""
        fields = request.fields
        request.check_display_name(request.display_name, fields.display_name)
        labels = dict(request.labels)
        validate_resource_labels(labels)
        seed = labels.get(SEED_LABEL, "0")
        if not seed.isdigit():
            raise InvalidArgument(
                f"Field: {fields.labels}; Message: {SEED_LABEL}={seed!r} is not a training "
                "seed; allowed: digits (an integer ≥ 0)"
            )
        if not request.dataset_id:
            raise InvalidArgument(
                f"Field: {fields.dataset_id}; Message: required; the id of an image "
                "classification dataset of the same location"
            )
        dataset_name = str(location.child("datasets", request.dataset_id))
        dataset = self._datasets.get(dataset_name)
        model_type = _model_type(request)
        base_path = self._base_model_path(location, request, model_type)
        examples = self._examples(dataset_name, request.split)
        label_specs = tuple(
            (spec.display_name, spec.id)
            for spec in dataset.annotation_specs
            if spec.example_count > 0
        )
        config = self._config(request, dataset, model_type, label_specs, base_path, int(seed))
        assert config.budget_milli_node_hours is not None  # resolved by trainer.validate_config
        now = utcnow()
        model = Model(
            name=str(location.child("models", model_id)),
            display_name=request.display_name,
            dataset_id=request.dataset_id,
            create_time=now,
            update_time=now,
            etag="",
            labels=labels,
            deployment_state=DeploymentState.UNDEPLOYED,
            model_type=model_type,
            base_model_id=request.base_model_id,
            train_budget_milli_node_hours=config.budget_milli_node_hours,
            train_cost_milli_node_hours=0,
            stop_reason="",
            node_qps=0.0,
            node_count=0,
        )
        return _TrainingPlan(model, dataset_name, config, label_specs, examples)

    def _examples(self, dataset_name: str, split: SplitAssignment | None) -> tuple[Example, ...]:
        """The dataset's examples in their roles for this training; refused if it cannot train."""
        examples = self._datasets.examples(dataset_name)
        if split is not None:
            examples = tuple(
                replace(e, ml_use=role) for e in examples if (role := split(e)) is not None
            )
        trained_labels = sorted(
            {label for e in examples if e.split is MlUse.TRAIN for label in e.labels}
        )
        if len(trained_labels) < 2:
            raise FailedPrecondition(
                f"Dataset {dataset_name} has {len(trained_labels)} label(s) with TRAIN images "
                f"({', '.join(trained_labels) or 'none'}); training needs at least 2 labels"
            )
        if not any(e.split is MlUse.TEST for e in examples):
            raise FailedPrecondition(
                f"Dataset {dataset_name} has no TEST images; the model is evaluated on the "
                "TEST split, so import some with ML_USE TEST (or UNASSIGNED, split 80/10/10)"
            )
        return examples

    @staticmethod
    def _config(
        request: TrainingRequest,
        dataset: Dataset,
        model_type: str,
        label_specs: tuple[tuple[str, str], ...],
        base_path: Path | None,
        seed: int,
    ) -> trainer.TrainingConfig:
        """The engine's configuration, its defaults resolved (budget, seconds per node hour)."""
        try:  # the emulator's own settings, not the request's
            trainer.seconds_per_node_hour()
            trainer.epochs_per_node_hour()
        except trainer.TrainingError as exc:
            raise FailedPrecondition(
                f"The emulator's budget scale is misconfigured: {exc}"
            ) from None
        try:
            return trainer.validate_config(
                trainer.TrainingConfig(
                    labels=tuple(label for label, _ in label_specs),
                    multilabel=dataset.classification_type is ClassificationType.MULTILABEL,
                    model_type=model_type,
                    budget_milli_node_hours=request.budget_milli_node_hours,
                    base_model_path=base_path,
                    seed=seed,
                )
            )
        except trainer.BudgetTooSmall as exc:  # the emulator's scale buys no epoch
            raise FailedPrecondition(f"Field: {request.fields.metadata}; Message: {exc}") from None
        except trainer.TrainingError as exc:
            raise InvalidArgument(f"Field: {request.fields.metadata}; Message: {exc}") from None

    def _base_model_path(
        self, location: LocationName, request: TrainingRequest, model_type: str
    ) -> Path | None:
        base_model_id = request.base_model_id
        path_field = f"{request.fields.metadata}.base_model_id"
        field_name = f"Field: {path_field}"
        if not base_model_id:
            return None
        if base_model_id.startswith(BASE_MODEL_FILE_PREFIX):
            path = Path(base_model_id.removeprefix(BASE_MODEL_FILE_PREFIX))
            if not path.is_absolute():
                raise InvalidArgument(
                    f"{field_name}; Message: {base_model_id!r}: an emulator base model file is "
                    "file:///absolute/path (a .keras file or a SavedModel directory)"
                )
            if not (path.is_file() and path.suffix == ".keras") and not (
                path.is_dir() and (path / "saved_model.pb").is_file()
            ):
                raise InvalidArgument(
                    f"{field_name}; Message: {path} is not a .keras file or a SavedModel "
                    "directory (with saved_model.pb) on the emulator's machine"
                )
            return path
        name = str(location.child("models", base_model_id))
        try:
            base = self._models.record(name, path_field)
        except NotFound:
            raise NotFound(
                f"{field_name}; Message: base model {name} does not exist (the base model must "
                "be in the same project and location)"
            ) from None
        if base.model.model_type != model_type:
            raise InvalidArgument(
                f"{field_name}; Message: base model {name} has model_type "
                f"{base.model.model_type}; the new model must have the same type, not "
                f"{model_type}"
            )
        return self._models.model_dir(base.model.id) / trainer.KERAS_FILE

    # ---- the background work ----------------------------------------------------------------

    def _train(self, ctx: OperationContext, plan: _TrainingPlan) -> dict:
        model = plan.model
        model_dir = self._models.model_dir(model.id)
        examples = [
            trainer.Example(self._datasets.image_bytes(e), e.labels, trainer.Split(e.split.value))
            for e in plan.examples
        ]
        try:
            result = trainer.train(
                examples, plan.config, model_dir, _reporter(ctx, model), _StopSignal(ctx)
            )
        except trainer.TrainingCancelled as stopped:
            raise _stopped(
                ctx,
                model.display_name,
                f" after {stopped.elapsed_seconds:.0f} s ({stopped.epochs} epochs, "
                f"{stopped.cost_milli_node_hours} milli node hours)",
            ) from None
        except trainer.BudgetTooSmall as exc:  # no complete epoch: no model, nothing billed
            raise FailedPrecondition(
                f"Training of model {model.display_name!r} failed: {exc}"
            ) from None
        except trainer.TrainingError as exc:
            raise InvalidArgument(
                f"Training of model {model.display_name!r} failed: {exc}"
            ) from None
        try:
            record = self._commit(ctx, plan, examples, result)
        except BaseException:
            shutil.rmtree(model_dir, ignore_errors=True)
            raise
        timings = record.training["timings"]
        log.info(
            "[model %s] trained: %s after %d epochs (best %d), %d of %d milli node hours; "
            "wall time %s",
            model.display_name,
            result.stop_reason,
            result.epochs,
            result.best_epoch,
            result.train_cost_milli_node_hours,
            result.budget_milli_node_hours,
            ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in timings.items()),
        )
        return record.snapshot().to_json()

    def _commit(
        self,
        ctx: OperationContext,
        plan: _TrainingPlan,
        examples: list[trainer.Example],
        result: trainer.TrainingResult,
    ) -> ModelRecord:
        """Evaluates the trained model on the TEST split, then makes it exist (one write)."""
        model = plan.model
        ctx.set_details(stage="evaluating")
        started = time.monotonic()
        test_count = sum(e.split is trainer.Split.TEST for e in examples)
        evaluations = evaluator.evaluate_model(
            self._models.model_dir(model.id), examples, [spec for _, spec in plan.label_specs]
        )
        evaluation_seconds = time.monotonic() - started
        seconds_per_image = evaluation_seconds / max(1, test_count)
        self._operations.faults.checkpoint(TRAINING_COMMIT_STEP, ctx.stopping)
        if ctx.stopping():
            raise _stopped(ctx, model.display_name, " after it had trained")
        now = utcnow()
        record = ModelRecord(
            model=replace(
                model,
                create_time=now,
                update_time=now,
                train_cost_milli_node_hours=result.train_cost_milli_node_hours,
                stop_reason=result.stop_reason,
                node_qps=_node_qps(seconds_per_image),
            ),
            version=1,
            multilabel=result.multilabel,
            label_specs=plan.label_specs,
            create_operation=ctx.name,
            evaluations=tuple(_evaluation(model.name, e, now) for e in evaluations),
            training={
                "stop_reason": result.stop_reason,
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "train_cost_milli_node_hours": result.train_cost_milli_node_hours,
                "elapsed_seconds": result.elapsed_seconds,  # billed training seconds
                "timings": {**result.timings, "evaluation": round(evaluation_seconds, 3)},
                "seconds_per_node_hour": result.seconds_per_node_hour,
                "seed": plan.config.seed,
                "input_size": result.input_size,
                "train_example_count": result.train_example_count,
                "validation_example_count": result.validation_example_count,
            },
        )
        with self._models.lock:
            self._models.save(record)
        return record

    def _recover(self, op: Operation) -> Outcome:
        """A training found running at start: committed (its model exists) or interrupted."""
        record = self._models.find(op.resources[0])
        if record is not None and record.create_operation == op.name:
            return Outcome(response=record.snapshot().to_json())
        model_id = op.details.get("model_id")
        if model_id:
            shutil.rmtree(self._models.model_dir(model_id), ignore_errors=True)
        return Outcome(error=interrupted_training_status(op))


def _reporter(ctx: OperationContext, model: Model) -> Callable[[trainer.TrainingProgress], None]:
    """Reports each epoch into the operation: details, progress (the budget's fraction), log."""

    def report(progress: trainer.TrainingProgress) -> None:
        if "running_since" not in ctx.operation.details:  # the first epoch: when training began
            began = utcnow() - timedelta(seconds=progress.elapsed_seconds)
            ctx.set_details(running_since=began.isoformat())
        ctx.set_details(
            epoch=progress.epoch,
            elapsed_seconds=round(progress.elapsed_seconds, 3),
            train_loss=round(progress.train_loss, 6),
            val_loss=round(progress.val_loss, 6),
            train_accuracy=round(progress.train_accuracy, 6),
            val_accuracy=round(progress.val_accuracy, 6),
        )
        ctx.progress(min(99, int(progress.budget_fraction * 100)))
        log.info(
            "[model %s] epoch %d: %.0f s of training, %.0f%% of the budget, val_loss %.3f",
            model.display_name,
            progress.epoch,
            progress.elapsed_seconds,
            progress.budget_fraction * 100,
            progress.val_loss,
        )

    return report


def _evaluation(model: str, evaluation: evaluator.ModelEvaluation, now) -> ModelEvaluation:
    """The engine's evaluation as the model's ModelEvaluation resource (a stable id)."""
    return ModelEvaluation(
        name=f"{model}/modelEvaluations/{stable_id(f'{model}/{evaluation.annotation_spec_id}')}",
        annotation_spec_id=evaluation.annotation_spec_id,
        display_name=evaluation.display_name,
        create_time=now,
        evaluated_example_count=evaluation.evaluated_example_count,
        metrics=evaluation.classification_evaluation_metrics,
    )
