"""Image classification models: training, evaluations, export, deployment and prediction.

The service's behaviour over the facade-neutral engine (trainer, evaluator, exporter,
predictor); facades (emulator/automl_v1.py, emulator/automl_v1_prediction.py) only translate.

Training. `start_training` checks the request synchronously (display name, labels, dataset and
its splits, model type, budget, base model) and trains in a background `create_model`
operation, which reports the budget fraction as progress and the latest epoch, losses and
accuracy as operation details. A model exists once its training committed: the engine writes
the trained model directory atomically, its TF Lite model (what `tflite` exports) is evaluated
on the TEST split, then one atomic write of `models/<id>.json` makes the model and its
evaluations visible. Cancelled, failed or interrupted trainings leave no model and no files.
A training interrupted by the emulator stopping (cleanly or by a crash) ends as an ABORTED
operation that says so, and what it had written is removed on the next start.

Emulator-only (the service has no such inputs; both are ignored or refused by it):
- `base_model_id` may be `file:///absolute/path` naming a Keras `.keras` file or a SavedModel
  directory on the emulator's machine (transfer learning from a local model; the service only
  takes the id of another model of the same location and model type);
- the model label `edge-labeler-seed` (digits) seeds training (weights, shuffling,
  augmentation); without it the seed is 0. To the service it is just a label.

Checkpoints (fault injection, see faults.py): `CreateModel.commit` (trained and evaluated, not
yet committed), `DeployModel.commit`, `ExportModel.upload`, `BatchPredict.write`.

Layout under the state directory:
    models/<id>.json          a model: metadata, labels, evaluations, deployment state
    trained_models/<id>/      the engine's trained model directory
    model_exports/<op id>/    an export staged locally before its upload (removed after it)
"""

import csv
import hashlib
import io
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from emulator.core import evaluator, exporter, trainer
from emulator.core.architectures import MOBILE_MODEL_TYPES, MODEL_TYPES
from emulator.core.blobs import Blobs, folder_timestamp, output_directory, parse_gs_uri
from emulator.core.datasets import (
    ClassificationType,
    DatasetStore,
    Example,
    validate_resource_labels,
)
from emulator.core.errors import (
    Aborted,
    Cancelled,
    Code,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ServiceError,
    Status,
    Unimplemented,
)
from emulator.core.evaluator import (
    ClassificationEvaluationMetrics,
    ConfidenceMetricsEntry,
    ConfusionMatrix,
)
from emulator.core.import_csv import MlUse
from emulator.core.names import (
    LocationName,
    new_id,
    parse_location,
    parse_resource,
    stable_id,
)
from emulator.core.operations import Operation, OperationContext, OperationStore, Outcome, utcnow
from emulator.core.persistence import atomic_write_json, read_json, remove_file
from emulator.core.predictor import DEFAULT_SCORE_THRESHOLD, PredictionError, Predictor

log = logging.getLogger(__name__)

# Model display names: up to 32 ASCII letters, digits and underscores, starting with a letter.
MODEL_DISPLAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
DEFAULT_MODEL_TYPE = "cloud"  # the API's default model_type
# Model types the API knows for image classification that the emulator does not train.
CORE_ML_MODEL_TYPES = (
    "mobile-core-ml-low-latency-1",
    "mobile-core-ml-versatile-1",
    "mobile-core-ml-high-accuracy-1",
)
DEFAULT_EXPORT_FORMAT = "tflite"
EXPORT_FORMATS = exporter.EXPORT_FORMATS
# Formats the API offers for mobile image classification models that are not emulated.
UNEMULATED_EXPORT_FORMATS = ("tf_js", "docker")
MIN_NODE_COUNT, MAX_NODE_COUNT = 1, 100
BASE_MODEL_FILE_PREFIX = "file://"
SEED_LABEL = "edge-labeler-seed"

TRAINING_COMMIT_STEP = "CreateModel.commit"
DEPLOY_COMMIT_STEP = "DeployModel.commit"
EXPORT_UPLOAD_STEP = "ExportModel.upload"
BATCH_PREDICT_WRITE_STEP = "BatchPredict.write"

_EVALUATION_NAME = re.compile(r"(?P<model>.+/models/[^/]+)/modelEvaluations/(?P<id>[0-9]+)")


class DeploymentState(StrEnum):
    DEPLOYED = "DEPLOYED"
    UNDEPLOYED = "UNDEPLOYED"


@dataclass(frozen=True)
class Model:
    """A trained image classification model as clients see it (a snapshot)."""

    name: str
    display_name: str
    dataset_id: str
    create_time: datetime  # when training finished
    update_time: datetime
    etag: str
    labels: dict[str, str]
    deployment_state: DeploymentState
    model_type: str
    base_model_id: str
    train_budget_milli_node_hours: int
    train_cost_milli_node_hours: int
    stop_reason: str
    node_qps: float
    node_count: int  # nodes it is deployed on (0 when undeployed)

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_json(self) -> dict:
        document = asdict(self)
        document["create_time"] = self.create_time.isoformat()
        document["update_time"] = self.update_time.isoformat()
        document["deployment_state"] = self.deployment_state.value
        return document

    @classmethod
    def from_json(cls, data: dict) -> "Model":
        return cls(
            **{
                **data,
                "create_time": datetime.fromisoformat(data["create_time"]),
                "update_time": datetime.fromisoformat(data["update_time"]),
                "deployment_state": DeploymentState(data["deployment_state"]),
                "labels": dict(data["labels"]),
            }
        )


@dataclass(frozen=True)
class ModelEvaluation:
    """A ModelEvaluation resource: overall (annotation_spec_id "") or for one label."""

    name: str  # {model}/modelEvaluations/{id}
    annotation_spec_id: str
    display_name: str
    create_time: datetime
    evaluated_example_count: int
    metrics: ClassificationEvaluationMetrics

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "annotation_spec_id": self.annotation_spec_id,
            "display_name": self.display_name,
            "create_time": self.create_time.isoformat(),
            "evaluated_example_count": self.evaluated_example_count,
            "metrics": asdict(self.metrics),
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModelEvaluation":
        metrics = data["metrics"]
        matrix = metrics["confusion_matrix"]
        return cls(
            name=data["name"],
            annotation_spec_id=data["annotation_spec_id"],
            display_name=data["display_name"],
            create_time=datetime.fromisoformat(data["create_time"]),
            evaluated_example_count=data["evaluated_example_count"],
            metrics=ClassificationEvaluationMetrics(
                au_prc=metrics["au_prc"],
                au_roc=metrics["au_roc"],
                log_loss=metrics["log_loss"],
                confidence_metrics_entry=tuple(
                    ConfidenceMetricsEntry(**entry) for entry in metrics["confidence_metrics_entry"]
                ),
                confusion_matrix=None
                if matrix is None
                else ConfusionMatrix(
                    annotation_spec_id=tuple(matrix["annotation_spec_id"]),
                    display_name=tuple(matrix["display_name"]),
                    row=tuple(tuple(row) for row in matrix["row"]),
                ),
                annotation_spec_id=tuple(metrics["annotation_spec_id"]),
            ),
        )


@dataclass(frozen=True)
class Prediction:
    """One label of an online or batch prediction."""

    annotation_spec_id: str
    display_name: str
    score: float


@dataclass(frozen=True)
class _State:
    """Everything stored for one model (the content of models/<id>.json)."""

    model: Model  # its etag is derived from `version`
    version: int
    multilabel: bool
    label_specs: tuple[tuple[str, str], ...]  # (label, annotation spec id), output order
    create_operation: str
    evaluations: tuple[ModelEvaluation, ...]
    training: dict  # the engine's figures: epochs, elapsed seconds, scale, ...

    def snapshot(self) -> Model:
        etag = hashlib.sha256(f"{self.model.name}@{self.version}".encode()).hexdigest()[:20]
        return replace(self.model, etag=etag)

    def to_json(self) -> dict:
        return {
            "model": self.model.to_json(),
            "version": self.version,
            "multilabel": self.multilabel,
            "label_specs": [list(pair) for pair in self.label_specs],
            "create_operation": self.create_operation,
            "evaluations": [e.to_json() for e in self.evaluations],
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: dict) -> "_State":
        return cls(
            model=Model.from_json(data["model"]),
            version=data["version"],
            multilabel=data["multilabel"],
            label_specs=tuple((label, spec) for label, spec in data["label_specs"]),
            create_operation=data["create_operation"],
            evaluations=tuple(ModelEvaluation.from_json(e) for e in data["evaluations"]),
            training=dict(data["training"]),
        )


@dataclass(frozen=True)
class _TrainingPlan:
    """A checked CreateModel request, what its background work needs."""

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


def _validate_display_name(display_name: str) -> None:
    if MODEL_DISPLAY_NAME.fullmatch(display_name or "") is None:
        raise InvalidArgument(
            f"Field: model.display_name; Message: {display_name!r} is not a valid model "
            "name; it must have 1 to 32 characters, ASCII letters, digits and underscores, "
            "starting with a letter"
        )


def _node_qps(seconds_per_image: float) -> float:
    """Online predictions per second one node serves: measured during evaluation."""
    return round(1.0 / max(seconds_per_image, 1e-4), 1)


# ---- what callers pass ----------------------------------------------------------------------

# The role of an example in one training (TRAIN, VALIDATION, TEST), or None: left out.
SplitAssignment = Callable[[Example], MlUse | None]
# Where an export goes under the requested prefix: (model, format, timestamp) → folder path.
ExportFolder = Callable[[Model, str, str], str]

ModelPredicate = Callable[[Model], bool]
EvaluationPredicate = Callable[[ModelEvaluation], bool]

# ---- the store --------------------------------------------------------------------------------


class ModelStore:
    """All models of one emulator; thread-safe. Lock order: models → operations."""

    def __init__(
        self,
        state_dir: Path,
        datasets: DatasetStore,
        blobs: Blobs,
        operations: OperationStore,
    ) -> None:
        self._root = state_dir / "models"
        self._trained = state_dir / "trained_models"
        self._staging = state_dir / "model_exports"
        self._datasets = datasets
        self._blobs = blobs
        self._operations = operations
        self._states: dict[str, _State] = {}
        self._predictors: dict[str, Predictor] = {}
        self._lock = threading.RLock()
        operations.register_recovery("create_model", self._recover_training)
        operations.register_recovery("deploy_model", self._recover_deployment)
        operations.register_recovery("undeploy_model", self._recover_deployment)

    # ---- persistence ----------------------------------------------------------------------

    def load(self) -> None:
        """Reads every model; removes the engine's partial outputs and staged exports."""
        self._root.mkdir(parents=True, exist_ok=True)
        self._trained.mkdir(parents=True, exist_ok=True)
        removed = trainer.remove_partial_outputs(self._trained)
        if removed:
            log.warning(
                "removed %d partial model directories of interrupted trainings", len(removed)
            )
        shutil.rmtree(self._staging, ignore_errors=True)
        for path in sorted(self._root.glob("*.json")):
            state = _State.from_json(read_json(path))
            self._states[state.model.name] = state

    def remove_orphans(self) -> list[Path]:
        """Deletes trained model directories no model and no running training owns.

        Called after operations are loaded (and recovered): a training that crashed after its
        directory was written but before its commit leaves one.
        """
        with self._lock:
            owned = {state.model.id for state in self._states.values()}
            owned |= {
                op.details.get("model_id")
                for op in self._operations.running()
                if op.kind == "create_model"
            }
            orphans = [
                path
                for path in sorted(self._trained.iterdir())
                if path.is_dir() and not path.name.startswith(".") and path.name not in owned
            ]
        for path in orphans:
            shutil.rmtree(path, ignore_errors=True)
            log.warning("removed %s: no model owns it (its training did not commit)", path)
        return orphans

    def _path(self, name: str) -> Path:
        return self._root / f"{name.rsplit('/', 1)[-1]}.json"

    def _model_dir(self, model_id: str) -> Path:
        return self._trained / model_id

    def _save(self, state: _State) -> None:
        """Writes and publishes a new state. Caller holds the lock."""
        atomic_write_json(self._path(state.model.name), state.to_json())
        self._states[state.model.name] = state

    def _state(self, name: str, field_name: str = "name") -> _State:
        parse_resource(name, "models", "Model", field_name)
        with self._lock:
            state = self._states.get(name)
        if state is None:
            raise NotFound(
                f"The Model doesn't exist or is inaccessible for use with AutoML: {name}"
            )
        return state

    # ---- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> Model:
        return self._state(name).snapshot()

    def list_models(
        self, location: LocationName, matches: ModelPredicate = lambda model: True
    ) -> list[Model]:
        """Models of a location, oldest first, that match (e.g. a facade's list filter)."""
        prefix = f"{location}/models/"
        with self._lock:
            states = [s for s in self._states.values() if s.model.name.startswith(prefix)]
        models = [
            s.snapshot() for s in sorted(states, key=lambda s: (s.model.create_time, s.model.name))
        ]
        return [m for m in models if matches(m)]

    def get_evaluation(self, name: str) -> ModelEvaluation:
        match = _EVALUATION_NAME.fullmatch(name or "")
        if match is None:
            raise InvalidArgument(
                f"Field: name; Message: {name!r} is not a valid ModelEvaluation name; expected "
                "projects/{project}/locations/{location}/models/{model_id}/modelEvaluations/"
                "{model_evaluation_id}"
            )
        for evaluation in self._state(match["model"]).evaluations:
            if evaluation.name == name:
                return evaluation
        raise NotFound(f"The ModelEvaluation doesn't exist or is inaccessible: {name}")

    def list_evaluations(
        self, parent: str, matches: EvaluationPredicate = lambda evaluation: True
    ) -> list[ModelEvaluation]:
        """Evaluations of a model (overall first), or of every model when its id is `-`."""
        if parent.endswith("/models/-"):
            location = parent.removesuffix("/models/-")
            states = [self._state(m.name) for m in self.list_models(parse_location(location))]
        else:
            states = [self._state(parent, "parent")]
        return [e for state in states for e in state.evaluations if matches(e)]

    # ---- training ---------------------------------------------------------------------------

    def start_training(
        self,
        location: LocationName,
        *,
        display_name: str,
        dataset_id: str,
        model_type: str,
        budget_milli_node_hours: int | None,
        base_model_id: str = "",
        labels: dict[str, str] | None = None,
        api: str,
        id_prefix: str = "",
        split: SplitAssignment | None = None,
    ) -> Operation:
        """Checks a CreateModel request, then trains in a background `create_model` operation.

        `split` (for APIs that choose the data split per training, such as Vertex AI's
        TrainingPipeline): each example's role, or None to leave it out. By default an example
        keeps the ML_USE it was imported with (UNASSIGNED: split 80/10/10 by content hash).
        """
        _validate_display_name(display_name)
        labels = dict(labels or {})
        validate_resource_labels(labels)
        seed = labels.get(SEED_LABEL, "0")
        if not seed.isdigit():
            raise InvalidArgument(
                f"Field: model.labels; Message: {SEED_LABEL}={seed!r} is not a training seed; "
                "allowed: digits (an integer ≥ 0)"
            )
        if not dataset_id:
            raise InvalidArgument(
                "Field: model.dataset_id; Message: required; the id of an image classification "
                "dataset of the same location"
            )
        dataset_name = str(location.child("datasets", dataset_id))
        dataset = self._datasets.get(dataset_name)
        model_type = model_type or DEFAULT_MODEL_TYPE
        field_prefix = "Field: model.image_classification_model_metadata"
        if model_type in CORE_ML_MODEL_TYPES:
            raise Unimplemented(
                f"{field_prefix}.model_type; Message: {model_type} (Core ML) is not emulated; "
                f"the emulator trains {', '.join(MODEL_TYPES)}"
            )
        if model_type not in MODEL_TYPES:
            raise InvalidArgument(
                f"{field_prefix}.model_type; Message: {model_type!r} is not a model type; "
                f"allowed: {', '.join(MODEL_TYPES)}"
            )
        base_path = self._base_model_path(location, base_model_id, model_type)

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
        label_specs = tuple(
            (spec.display_name, spec.id)
            for spec in dataset.annotation_specs
            if spec.example_count > 0
        )
        try:
            trainer.seconds_per_node_hour()  # the emulator's own setting, not the request's
        except trainer.TrainingError as exc:
            raise FailedPrecondition(
                f"The emulator's budget scale is misconfigured: {exc}"
            ) from None
        try:
            config = trainer.validate_config(
                trainer.TrainingConfig(
                    labels=tuple(label for label, _ in label_specs),
                    multilabel=dataset.classification_type is ClassificationType.MULTILABEL,
                    model_type=model_type,
                    budget_milli_node_hours=budget_milli_node_hours,
                    base_model_path=base_path,
                    seed=int(seed),
                )
            )
        except trainer.TrainingError as exc:
            raise InvalidArgument(f"{field_prefix}; Message: {exc}") from None

        model_id = new_id(id_prefix)
        name = str(location.child("models", model_id))
        now = utcnow()
        model = Model(
            name=name,
            display_name=display_name,
            dataset_id=dataset_id,
            create_time=now,
            update_time=now,
            etag="",
            labels=labels,
            deployment_state=DeploymentState.UNDEPLOYED,
            model_type=model_type,
            base_model_id=base_model_id,
            train_budget_milli_node_hours=config.budget_milli_node_hours,
            train_cost_milli_node_hours=0,
            stop_reason="",
            node_qps=0.0,
            node_count=0,
        )
        plan = _TrainingPlan(model, dataset_name, config, label_specs, examples)
        resources = [name, dataset_name]
        if base_model_id and not base_model_id.startswith(BASE_MODEL_FILE_PREFIX):
            resources.append(str(location.child("models", base_model_id)))
        budget_seconds = config.budget_milli_node_hours / 1000 * config.seconds_per_node_hour
        op = self._operations.start(
            parent=str(location),
            api=api,
            kind="create_model",
            resources=resources,
            work=lambda ctx: self._train(ctx, plan),
            details={
                "model_id": model_id,
                "display_name": display_name,
                "model_type": model_type,
                "train_budget_milli_node_hours": config.budget_milli_node_hours,
                "seconds_per_node_hour": config.seconds_per_node_hour,
                "budget_seconds": budget_seconds,
                "seed": config.seed,
            },
            id_prefix=id_prefix,
        )
        log.info(
            "[model %s] training %s on %s, budget %d milli node hours (%.0f s)",
            display_name,
            model_type,
            dataset_name,
            config.budget_milli_node_hours,
            budget_seconds,
        )
        return op

    def _base_model_path(self, location: LocationName, base_model_id: str, model_type: str):
        field_name = "Field: model.image_classification_model_metadata.base_model_id"
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
            base = self._state(name, "model.image_classification_model_metadata.base_model_id")
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
        return self._model_dir(base.model.id) / trainer.KERAS_FILE

    def _train(self, ctx: OperationContext, plan: _TrainingPlan) -> dict:
        model = plan.model
        model_dir = self._model_dir(model.id)
        examples = [
            trainer.Example(self._datasets.image_bytes(e), e.labels, trainer.Split(e.split.value))
            for e in plan.examples
        ]

        def report(progress: trainer.TrainingProgress) -> None:
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
                "[model %s] epoch %d: %.0fs / budget %.0fs, val_loss %.3f",
                model.display_name,
                progress.epoch,
                progress.elapsed_seconds,
                progress.budget_seconds,
                progress.val_loss,
            )

        try:
            result = trainer.train(examples, plan.config, model_dir, report, _StopSignal(ctx))
        except trainer.TrainingCancelled as stopped:
            raise _stopped(
                ctx,
                model.display_name,
                f" after {stopped.elapsed_seconds:.0f} s ({stopped.epochs} epochs, "
                f"{stopped.cost_milli_node_hours} milli node hours)",
            ) from None
        except trainer.TrainingError as exc:
            raise InvalidArgument(
                f"Training of model {model.display_name!r} failed: {exc}"
            ) from None
        try:
            ctx.set_details(stage="evaluating")
            started = time.monotonic()
            test_count = sum(e.split is trainer.Split.TEST for e in examples)
            evaluations = evaluator.evaluate_model(
                model_dir, examples, [spec for _, spec in plan.label_specs]
            )
            seconds_per_image = (time.monotonic() - started) / max(1, test_count)
            self._operations.faults.checkpoint(TRAINING_COMMIT_STEP, ctx.stopping)
            if ctx.stopping():
                raise _stopped(ctx, model.display_name, " after it had trained")
            now = utcnow()
            committed = replace(
                model,
                create_time=now,
                update_time=now,
                train_cost_milli_node_hours=result.train_cost_milli_node_hours,
                stop_reason=result.stop_reason,
                node_qps=_node_qps(seconds_per_image),
            )
            state = _State(
                model=committed,
                version=1,
                multilabel=result.multilabel,
                label_specs=plan.label_specs,
                create_operation=ctx.name,
                evaluations=tuple(
                    ModelEvaluation(
                        name=f"{model.name}/modelEvaluations/"
                        f"{stable_id(f'{model.name}/{e.annotation_spec_id}')}",
                        annotation_spec_id=e.annotation_spec_id,
                        display_name=e.display_name,
                        create_time=now,
                        evaluated_example_count=e.evaluated_example_count,
                        metrics=e.classification_evaluation_metrics,
                    )
                    for e in evaluations
                ),
                training={
                    "epochs": result.epochs,
                    "best_epoch": result.best_epoch,
                    "elapsed_seconds": result.elapsed_seconds,
                    "seconds_per_node_hour": result.seconds_per_node_hour,
                    "seed": plan.config.seed,
                    "input_size": result.input_size,
                    "train_example_count": result.train_example_count,
                    "validation_example_count": result.validation_example_count,
                },
            )
            with self._lock:
                self._save(state)
        except BaseException:
            shutil.rmtree(model_dir, ignore_errors=True)
            raise
        log.info(
            "[model %s] trained: %s after %d epochs, %d of %d milli node hours",
            model.display_name,
            result.stop_reason,
            result.epochs,
            result.train_cost_milli_node_hours,
            result.budget_milli_node_hours,
        )
        return state.snapshot().to_json()

    def _recover_training(self, op: Operation) -> Outcome:
        """A training found running at start: committed (its model exists) or interrupted."""
        state = self._states.get(op.resources[0])
        if state is not None and state.create_operation == op.name:
            return Outcome(response=state.snapshot().to_json())
        model_id = op.details.get("model_id")
        if model_id:
            shutil.rmtree(self._model_dir(model_id), ignore_errors=True)
        return Outcome(error=interrupted_training_status(op))

    # ---- updates and deletion ---------------------------------------------------------------

    def update(
        self,
        name: str,
        *,
        display_name: str | None = None,
        labels: dict[str, str] | None = None,
        etag: str = "",
    ) -> Model:
        """Changes the given fields; a non-empty etag must match the current one (else ABORTED)."""
        if display_name is not None:
            _validate_display_name(display_name)
        if labels is not None:
            validate_resource_labels(labels)
        with self._lock:
            state = self._state(name, "model.name")
            if etag and etag != state.snapshot().etag:
                raise Aborted(
                    f"Model {name} was modified since it was read (etag {etag!r} is stale); "
                    "read it again and retry the update"
                )
            model = replace(
                state.model,
                display_name=state.model.display_name if display_name is None else display_name,
                labels=state.model.labels if labels is None else dict(labels),
                update_time=utcnow(),
            )
            state = replace(state, model=model, version=state.version + 1)
            self._save(state)
        return state.snapshot()

    def delete(self, name: str) -> None:
        """Deletes a model, its evaluations and files; a deployed model stops serving.

        The API does not refuse deployed models (AutoML documents deletion of deployed models,
        which it undeploys); refused while an operation (export, deployment change, batch
        prediction, a training using it as its base) works on it. Exports already written to
        Cloud Storage are the user's and stay.
        """
        with self._lock:
            state = self._state(name)
            busy = self._operations.running(name)
            if busy:
                raise FailedPrecondition(
                    f"Model {name} cannot be deleted while operation {busy[0].name} "
                    f"({busy[0].kind}) is running on it; wait for it or cancel it first."
                )
            self._states.pop(name, None)
            self._predictors.pop(name, None)
            remove_file(self._path(name))
        shutil.rmtree(self._model_dir(state.model.id), ignore_errors=True)
        log.info("model %s deleted", name)

    # ---- export -----------------------------------------------------------------------------

    def start_export(
        self,
        name: str,
        model_format: str,
        output_uri_prefix: str,
        *,
        api: str,
        id_prefix: str = "",
        folder: ExportFolder | None = None,
        prefix_field: str = "output_config.gcs_destination.output_uri_prefix",
    ) -> Operation:
        """Exports to `<prefix>/model-export/icn/<format>-<display_name>-<timestamp>/`.

        `folder` names the export folder another way, and `prefix_field` the request field
        that holds the prefix (another API's layout and spelling).
        """
        state = self._state(name)
        model = state.model
        model_format = model_format or DEFAULT_EXPORT_FORMAT
        if model.model_type not in MOBILE_MODEL_TYPES:
            raise FailedPrecondition(
                f"Model {name} has model_type {model.model_type}, which cannot be exported; "
                f"exportable model types: {', '.join(MOBILE_MODEL_TYPES)}"
            )
        if model_format in UNEMULATED_EXPORT_FORMATS:
            raise Unimplemented(
                f"Field: output_config.model_format; Message: {model_format} exports are not "
                f"emulated; the emulator exports {', '.join(EXPORT_FORMATS)}"
            )
        if model_format not in EXPORT_FORMATS:
            raise InvalidArgument(
                f"Field: output_config.model_format; Message: {model_format!r} is not a format "
                f"of {model.model_type} image classification models; allowed: "
                f"{', '.join(EXPORT_FORMATS)}"
            )
        if folder is None:
            subfolder = f"model-export/icn/{model_format}-{model.display_name}-{folder_timestamp()}"
        else:
            subfolder = folder(model, model_format, folder_timestamp())
        directory = output_directory(output_uri_prefix, subfolder, prefix_field)
        return self._operations.start(
            parent=str(parse_resource(name, "models", "Model").parent),
            api=api,
            kind="export_model",
            resources=[name],
            work=lambda ctx: self._export(ctx, name, model_format, directory),
            details={"gcs_output_directory": directory, "model_format": model_format},
            id_prefix=id_prefix,
        )

    def _export(self, ctx: OperationContext, name: str, model_format: str, directory: str) -> dict:
        state = self._state(name)
        staging = self._staging / ctx.operation.id
        try:
            try:
                result = exporter.export_model(
                    self._model_dir(state.model.id), model_format, staging / "export"
                )
            except exporter.ExportError as exc:
                raise Internal(f"Export of {name} as {model_format} failed: {exc}") from None
            ctx.checkpoint(EXPORT_UPLOAD_STEP)
            for n, exported in enumerate(result.files, start=1):
                ctx.raise_if_stopping()
                # tf_saved_model: saved_model.pb and variables/ at the folder's top, as the
                # service lays them out (and as TensorFlow Serving containers expect them).
                relative = exported.name.removeprefix(f"{exporter.SAVED_MODEL_DIR}/")
                try:
                    self._blobs.write(
                        f"{directory}/{relative}",
                        exported.path.read_bytes(),
                        _content_type(relative),
                    )
                except NotFound as exc:
                    raise NotFound(f"Cannot export {name}: {exc.message}") from None
                ctx.progress(100 * n // len(result.files))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("model %s exported as %s to %s", name, model_format, directory)
        return {}

    # ---- deployment -------------------------------------------------------------------------

    def start_deployment(
        self, name: str, node_count: int | None, *, api: str, id_prefix: str = ""
    ) -> Operation:
        """Deploys the model on `node_count` nodes (default 1), or changes its node count."""
        nodes = node_count or MIN_NODE_COUNT
        if not MIN_NODE_COUNT <= nodes <= MAX_NODE_COUNT:
            raise InvalidArgument(
                "Field: image_classification_model_deployment_metadata.node_count; Message: "
                f"{nodes} is out of range; allowed: {MIN_NODE_COUNT}–{MAX_NODE_COUNT}"
            )
        return self._start_deployment_change(name, "deploy_model", nodes, api, id_prefix)

    def start_undeployment(self, name: str, *, api: str, id_prefix: str = "") -> Operation:
        """Stops serving online predictions (no effect when the model is not deployed)."""
        return self._start_deployment_change(name, "undeploy_model", 0, api, id_prefix)

    def _start_deployment_change(
        self, name: str, kind: str, nodes: int, api: str, id_prefix: str
    ) -> Operation:
        with self._lock:
            self._state(name)
            for op in self._operations.running(name):
                if op.kind in ("deploy_model", "undeploy_model"):
                    raise FailedPrecondition(
                        f"Model {name} already has a deployment change running ({op.name}, "
                        f"{op.kind}); wait for it first."
                    )
            return self._operations.start(
                parent=str(parse_resource(name, "models", "Model").parent),
                api=api,
                kind=kind,
                resources=[name],
                work=lambda ctx: self._change_deployment(ctx, name, nodes),
                details={"node_count": nodes},
                id_prefix=id_prefix,
            )

    def _change_deployment(self, ctx: OperationContext, name: str, nodes: int) -> dict:
        state = self._state(name)
        predictor = self._load_predictor(state) if nodes else None
        ctx.checkpoint(DEPLOY_COMMIT_STEP)
        with self._lock:
            state = self._state(name)
            deployed = DeploymentState.DEPLOYED if nodes else DeploymentState.UNDEPLOYED
            if (state.model.deployment_state, state.model.node_count) != (deployed, nodes):
                model = replace(
                    state.model, deployment_state=deployed, node_count=nodes, update_time=utcnow()
                )
                self._save(replace(state, model=model, version=state.version + 1))
            if predictor is None:
                self._predictors.pop(name, None)
            else:
                self._predictors[name] = predictor
        log.info("model %s %s", name, f"deployed on {nodes} node(s)" if nodes else "undeployed")
        return {}

    def _recover_deployment(self, op: Operation) -> Outcome | None:
        """A deployment change found running at start succeeded if its state reached disk."""
        state = self._states.get(op.resources[0])
        nodes = op.details.get("node_count", 0)
        if state is not None and state.model.node_count == nodes:
            return Outcome(response={})
        return None

    def _load_predictor(self, state: _State) -> Predictor:
        try:
            return Predictor(self._model_dir(state.model.id))
        except (PredictionError, OSError, ValueError) as exc:
            raise Internal(f"Model {state.model.name} cannot be loaded: {exc}") from None

    def _predictor(self, state: _State) -> Predictor:
        name = state.model.name
        with self._lock:
            predictor = self._predictors.get(name)
        if predictor is None:  # deployed before a restart: load on first use
            predictor = self._load_predictor(state)
            with self._lock:
                predictor = self._predictors.setdefault(name, predictor)
        return predictor

    # ---- prediction -------------------------------------------------------------------------

    def predict(
        self, name: str, image: bytes, score_threshold: float | None = None
    ) -> tuple[Prediction, ...]:
        """Labels scoring at least the threshold (default 0.5), highest first; needs DEPLOYED."""
        state = self._state(name)
        if state.model.deployment_state is not DeploymentState.DEPLOYED:
            raise FailedPrecondition(
                f"Model {name} is not deployed (deployment_state UNDEPLOYED); online prediction "
                "needs a deployed model: call DeployModel and wait for its operation"
            )
        threshold = _threshold(score_threshold)
        if not image:
            raise InvalidArgument(
                "Field: payload.image.image_bytes; Message: required; the encoded image"
            )
        try:
            scores = self._predictor(state).predict(image, threshold)
        except PredictionError as exc:
            raise InvalidArgument(f"Field: payload.image.image_bytes; Message: {exc}") from None
        return self._predictions(state, scores)

    @staticmethod
    def _predictions(state: _State, scores: Iterable) -> tuple[Prediction, ...]:
        specs = dict(state.label_specs)
        return tuple(Prediction(specs[s.label], s.label, s.score) for s in scores)

    def start_batch_prediction(
        self,
        name: str,
        input_uris: list[str],
        output_uri_prefix: str,
        score_threshold: float | None = None,
        *,
        api: str,
        id_prefix: str = "",
    ) -> Operation:
        """Predicts every image a CSV lists; JSONL results under `<prefix>/prediction-<name>-<ts>/`.

        Like the service, batch prediction does not need the model to be deployed.
        """
        state = self._state(name)
        threshold = _threshold(score_threshold)
        field_name = "input_config.gcs_source.input_uris"
        if not input_uris:
            raise InvalidArgument(
                f"Field: {field_name}; Message: at least one gs:// URI of a CSV file is required"
            )
        for uri in input_uris:
            parse_gs_uri(uri, field_name)
        directory = output_directory(
            output_uri_prefix,
            f"prediction-{state.model.display_name}-{folder_timestamp()}",
            "output_config.gcs_destination.output_uri_prefix",
        )
        uris = list(input_uris)
        return self._operations.start(
            parent=str(parse_resource(name, "models", "Model").parent),
            api=api,
            kind="batch_predict",
            resources=[name],
            work=lambda ctx: self._batch_predict(ctx, name, uris, directory, threshold),
            details={"input_uris": uris, "gcs_output_directory": directory},
            id_prefix=id_prefix,
        )

    def _batch_predict(
        self,
        ctx: OperationContext,
        name: str,
        input_uris: list[str],
        directory: str,
        threshold: float,
    ) -> dict:
        state = self._state(name)
        images: list[str] = []
        for uri in input_uris:
            try:
                text = self._blobs.read(uri).decode("utf-8-sig")
            except NotFound:
                raise NotFound(f"Batch prediction input {uri} does not exist.") from None
            except UnicodeDecodeError:
                raise InvalidArgument(f"Batch prediction input {uri} is not UTF-8 text.") from None
            images += [
                row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()
            ]
        if not images:
            raise InvalidArgument(f"{', '.join(input_uris)} lists no images; nothing to predict.")
        predictor = (
            self._predictor(state)
            if state.model.deployment_state is DeploymentState.DEPLOYED
            else self._load_predictor(state)
        )
        results: list[str] = []
        errors: list[str] = []
        failures: list[Status] = []
        for n, uri in enumerate(images, start=1):
            ctx.raise_if_stopping()
            try:
                parse_gs_uri(uri)
                data = self._blobs.read(uri)
                scores = predictor.predict(data, threshold)
            except NotFound:
                status = Status(Code.NOT_FOUND, f"{uri} does not exist")
            except InvalidArgument as exc:
                status = Status(Code.INVALID_ARGUMENT, exc.message)
            except PredictionError as exc:
                status = Status(Code.INVALID_ARGUMENT, f"{uri}: {exc}")
            else:
                annotations = [
                    {
                        "annotation_spec_id": p.annotation_spec_id,
                        "display_name": p.display_name,
                        "classification": {"score": p.score},
                    }
                    for p in self._predictions(state, scores)
                ]
                results.append(json.dumps({"ID": uri, "annotations": annotations}))
                ctx.progress(95 * n // len(images))
                continue
            errors.append(
                json.dumps(
                    {"ID": uri, "error": {"code": int(status.code), "message": status.message}}
                )
            )
            failures.append(status)
        ctx.add_partial_failures(failures)
        ctx.set_details(predicted=len(results), failed=len(errors))
        ctx.checkpoint(BATCH_PREDICT_WRITE_STEP)
        try:
            self._blobs.write(
                f"{directory}/image_classification_1.jsonl",
                "".join(f"{line}\n" for line in results).encode(),
                "application/jsonl",
            )
            if errors:
                self._blobs.write(
                    f"{directory}/errors_1.jsonl",
                    "".join(f"{line}\n" for line in errors).encode(),
                    "application/jsonl",
                )
        except NotFound as exc:
            raise NotFound(f"Cannot write batch predictions of {name}: {exc.message}") from None
        log.info(
            "model %s: batch prediction of %d images (%d failed) to %s",
            name,
            len(images),
            len(errors),
            directory,
        )
        return {}


def _threshold(value: float | None) -> float:
    if value is None:
        return DEFAULT_SCORE_THRESHOLD
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(
            f"Field: params.score_threshold; Message: {value} is out of range; allowed: 0.0–1.0"
        )
    return value


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".txt"):
        return "text/plain"
    return "application/octet-stream"
