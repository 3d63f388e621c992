"""Model records: what a trained model is (Model, its evaluations) and how it is stored.

A model exists once its training committed (training.py): one atomic write of its record,
`models/<id>.json`, makes the model and its evaluations visible. The store reads, lists,
updates and deletes records; training, serving and exports (this package's other modules)
change them under its lock. Lock order: models → operations.

Layout under the state directory:
    models/<id>.json          a model: metadata, labels, evaluations, deployment state
    trained_models/<id>/      the engine's trained model directory
"""

import hashlib
import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from emulator.core import trainer
from emulator.core.datasets import validate_resource_labels
from emulator.core.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from emulator.core.evaluator import (
    ClassificationEvaluationMetrics,
    ConfidenceMetricsEntry,
    ConfusionMatrix,
)
from emulator.core.names import LocationName, parse_location, parse_resource
from emulator.core.operations import OperationStore, utcnow
from emulator.core.persistence import atomic_write_json, read_record, remove_file

log = logging.getLogger(__name__)

# Model display names: up to 32 ASCII letters, digits and underscores, starting with a letter.
MODEL_DISPLAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")

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
class ModelRecord:
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
    def from_json(cls, data: dict) -> "ModelRecord":
        return cls(
            model=Model.from_json(data["model"]),
            version=data["version"],
            multilabel=data["multilabel"],
            label_specs=tuple((label, spec) for label, spec in data["label_specs"]),
            create_operation=data["create_operation"],
            evaluations=tuple(ModelEvaluation.from_json(e) for e in data["evaluations"]),
            training=dict(data["training"]),
        )


ModelPredicate = Callable[[Model], bool]
EvaluationPredicate = Callable[[ModelEvaluation], bool]


def validate_display_name(display_name: str, field: str) -> None:
    """InvalidArgument naming the request's `field` unless `display_name` is a model name."""
    if MODEL_DISPLAY_NAME.fullmatch(display_name or "") is None:
        raise InvalidArgument(
            f"Field: {field}; Message: {display_name!r} is not a valid model "
            "name; it must have 1 to 32 characters, ASCII letters, digits and underscores, "
            "starting with a letter"
        )


class ModelStore:
    """The records of all models of one emulator; thread-safe (`lock`, an RLock)."""

    def __init__(self, state_dir: Path, operations: OperationStore) -> None:
        self._root = state_dir / "models"
        self._trained = state_dir / "trained_models"
        self._operations = operations
        self._records: dict[str, ModelRecord] = {}
        self._deleted: list[Callable[[str], None]] = []
        self.lock = threading.RLock()

    # ---- persistence ----------------------------------------------------------------------

    def load(self) -> None:
        """Reads every record; removes the engine's partial outputs (interrupted trainings)."""
        self._root.mkdir(parents=True, exist_ok=True)
        self._trained.mkdir(parents=True, exist_ok=True)
        removed = trainer.remove_partial_outputs(self._trained)
        if removed:
            log.warning(
                "removed %d partial model directories of interrupted trainings", len(removed)
            )
        for path in sorted(self._root.glob("*.json")):
            record = ModelRecord.from_json(read_record(path))
            self._records[record.model.name] = record

    def remove_orphans(self) -> list[Path]:
        """Deletes trained model directories no model and no running training owns.

        Called after operations are loaded (and recovered): a training that crashed after its
        directory was written but before its commit leaves one.
        """
        with self.lock:
            owned = {record.model.id for record in self._records.values()}
            owned |= {
                model_id
                for op in self._operations.running()
                if op.kind == "create_model" and (model_id := op.details.get("model_id"))
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

    def model_dir(self, model_id: str) -> Path:
        """The engine's trained model directory of a model (or of a training in progress)."""
        return self._trained / model_id

    def save(self, record: ModelRecord) -> None:
        """Writes and publishes a new record. Caller holds the lock."""
        atomic_write_json(self._path(record.model.name), record.to_json())
        self._records[record.model.name] = record

    def record(self, name: str, field_name: str = "name") -> ModelRecord:
        """The record of model `name`; InvalidArgument naming `field_name`, or NotFound."""
        parse_resource(name, "models", "Model", field_name)
        record = self.find(name)
        if record is None:
            raise NotFound(
                f"The Model doesn't exist or is inaccessible for use with AutoML: {name}"
            )
        return record

    def find(self, name: str) -> ModelRecord | None:
        """The record of model `name`, or None (e.g. for an operation's recovery)."""
        with self.lock:
            return self._records.get(name)

    def on_delete(self, forget: Callable[[str], None]) -> None:
        """`forget(name)` runs (under the lock) when a model is deleted, e.g. its predictor."""
        self._deleted.append(forget)

    # ---- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> Model:
        return self.record(name).snapshot()

    def list_models(
        self, location: LocationName, matches: ModelPredicate = lambda model: True
    ) -> list[Model]:
        """Models of a location, oldest first, that match (e.g. a facade's list filter)."""
        prefix = f"{location}/models/"
        with self.lock:
            records = [r for r in self._records.values() if r.model.name.startswith(prefix)]
        models = [
            r.snapshot() for r in sorted(records, key=lambda r: (r.model.create_time, r.model.name))
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
        for evaluation in self.record(match["model"]).evaluations:
            if evaluation.name == name:
                return evaluation
        raise NotFound(f"The ModelEvaluation doesn't exist or is inaccessible: {name}")

    def list_evaluations(
        self, parent: str, matches: EvaluationPredicate = lambda evaluation: True
    ) -> list[ModelEvaluation]:
        """Evaluations of a model (overall first), or of every model when its id is `-`."""
        if parent.endswith("/models/-"):
            location = parent.removesuffix("/models/-")
            records = [self.record(m.name) for m in self.list_models(parse_location(location))]
        else:
            records = [self.record(parent, "parent")]
        return [e for record in records for e in record.evaluations if matches(e)]

    # ---- updates and deletion ---------------------------------------------------------------

    def update(
        self,
        name: str,
        *,
        display_name: str | None = None,
        labels: dict[str, str] | None = None,
        etag: str = "",
        resource_field: str,
    ) -> Model:
        """Changes the given fields; a non-empty etag must match the current one (else ABORTED).

        `resource_field` is the request's field holding the model (e.g. `model`), for messages.
        """
        if display_name is not None:
            validate_display_name(display_name, f"{resource_field}.display_name")
        if labels is not None:
            validate_resource_labels(labels)
        with self.lock:
            record = self.record(name, f"{resource_field}.name")
            if etag and etag != record.snapshot().etag:
                raise Aborted(
                    f"Model {name} was modified since it was read (etag {etag!r} is stale); "
                    "read it again and retry the update"
                )
            model = replace(
                record.model,
                display_name=record.model.display_name if display_name is None else display_name,
                labels=record.model.labels if labels is None else dict(labels),
                update_time=utcnow(),
            )
            record = replace(record, model=model, version=record.version + 1)
            self.save(record)
        return record.snapshot()

    def delete(self, name: str) -> None:
        """Deletes a model, its evaluations and files; a deployed model stops serving.

        The API does not refuse deployed models (AutoML documents deletion of deployed models,
        which it undeploys); refused while an operation (export, deployment change, batch
        prediction, a training using it as its base) works on it. Exports already written to
        Cloud Storage are the user's and stay.
        """
        with self.lock:
            record = self.record(name)
            busy = self._operations.running(name)
            if busy:
                raise FailedPrecondition(
                    f"Model {name} cannot be deleted while operation {busy[0].name} "
                    f"({busy[0].kind}) is running on it; wait for it or cancel it first."
                )
            self._records.pop(name, None)
            for forget in self._deleted:
                forget(name)
            remove_file(self._path(name))
        shutil.rmtree(self.model_dir(record.model.id), ignore_errors=True)
        log.info("model %s deleted", name)
