"""Training pipelines: a thin record over one training operation of the model store.

What Vertex AI calls a TrainingPipeline. A pipeline starts one training in the model store (the
engine every facade shares) and records which operation runs it. Its state, error, times, cost,
stop reason and the model it produced are read from that operation, so after a restart (which
finishes or recovers the operation) a pipeline always agrees with it. Facade-neutral: the
request's wire form (`spec`) is kept as JSON for the facade to render back.

A pipeline may choose each image's role for its training (a SplitAssignment, e.g. Vertex AI's
FractionSplit or FilterSplit: emulator/vertex_v1/splits.py) instead of the ML_USE it was
imported with.

Layout under the state directory:
    training_pipelines/<id>.json
"""

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from emulator.core.datasets import validate_resource_labels
from emulator.core.errors import Code, FailedPrecondition, InvalidArgument, NotFound, Status
from emulator.core.models.training import ModelTrainings, TrainingRequest
from emulator.core.names import LocationName, new_id, parse_resource
from emulator.core.operations import Operation, OperationStore
from emulator.core.persistence import atomic_write_json, read_record, remove_file

log = logging.getLogger(__name__)

MAX_DISPLAY_NAME_CHARS = 128


class PipelineState(StrEnum):
    QUEUED = "QUEUED"  # created; its work has not begun (only older records show it)
    PENDING = "PENDING"  # preparing: reading the images, waiting for the engine
    RUNNING = "RUNNING"  # training (from its first epoch), then evaluating
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


_ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)


@dataclass(frozen=True)
class TrainingPipeline:
    """The stored record of a pipeline (what does not change after creation)."""

    name: str  # {location}/trainingPipelines/{id}
    display_name: str
    labels: dict[str, str]
    spec: dict  # the request in the facade's wire form (JSON), rendered back on reads
    operation: str  # the model store's training operation
    create_time: datetime

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "labels": dict(self.labels),
            "spec": self.spec,
            "operation": self.operation,
            "create_time": self.create_time.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "TrainingPipeline":
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            labels=dict(data["labels"]),
            spec=dict(data["spec"]),
            operation=data["operation"],
            create_time=datetime.fromisoformat(data["create_time"]),
        )


@dataclass(frozen=True)
class PipelineStatus:
    """A pipeline as it is now, read from its training operation."""

    state: PipelineState
    error: Status | None
    model: str  # the trained model's name once SUCCEEDED, else ""
    start_time: datetime | None  # when it first entered RUNNING (None: it never did)
    end_time: datetime | None
    update_time: datetime
    train_cost_milli_node_hours: int  # once SUCCEEDED, else 0
    stop_reason: str  # MODEL_CONVERGED | BUDGET_REACHED once SUCCEEDED, else ""


def status_of(op: Operation) -> PipelineStatus:
    """The state of a pipeline whose training is `op`."""
    model = op.response or {}
    details = op.details
    running = (
        "running_since" in details or "epoch" in details or details.get("stage") == "evaluating"
    )
    if not op.done:
        if op.cancel_requested:
            state = PipelineState.CANCELLING
        elif running:
            state = PipelineState.RUNNING
        else:
            state = PipelineState.PENDING if "stage" in details else PipelineState.QUEUED
    elif op.error is None:
        state = PipelineState.SUCCEEDED
    elif op.error.code is Code.CANCELLED:
        state = PipelineState.CANCELLED
    else:
        state = PipelineState.FAILED
    succeeded = state is PipelineState.SUCCEEDED
    return PipelineStatus(
        state=state,
        error=op.error if op.done else None,
        model=model.get("name", "") if succeeded else "",
        start_time=_start_time(op) if running else None,
        end_time=op.update_time if op.done else None,
        update_time=op.update_time,
        train_cost_milli_node_hours=model.get("train_cost_milli_node_hours", 0) if succeeded else 0,
        stop_reason=model.get("stop_reason", "") if succeeded else "",
    )


def _start_time(op: Operation) -> datetime:
    """When the training began (its first epoch's start); older records: when it was created."""
    since = op.details.get("running_since")
    return datetime.fromisoformat(since) if since else op.create_time


# ---- the store ------------------------------------------------------------------------------


class PipelineStore:
    """All training pipelines of one emulator; thread-safe."""

    def __init__(self, root: Path, trainings: ModelTrainings, operations: OperationStore) -> None:
        self._root = root
        self._trainings = trainings
        self._operations = operations
        self._pipelines: dict[str, TrainingPipeline] = {}
        self._lock = threading.RLock()

    def load(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._root.glob("*.json")):
            pipeline = TrainingPipeline.from_json(read_record(path))
            self._pipelines[pipeline.name] = pipeline

    def _path(self, name: str) -> Path:
        return self._root / f"{name.rsplit('/', 1)[-1]}.json"

    def create(
        self,
        location: LocationName,
        *,
        display_name: str,
        labels: Mapping[str, str],
        spec: dict,
        training: TrainingRequest,
        display_name_field: str,
        api: str,
        id_prefix: str = "",
    ) -> TrainingPipeline:
        """Checks the pipeline, then starts its training (checked before anything is recorded).

        `display_name_field`: where the request holds the display name (for messages).
        """
        if not display_name or len(display_name) > MAX_DISPLAY_NAME_CHARS:
            raise InvalidArgument(
                f"Field: {display_name_field}; Message: {display_name!r}: required, "
                f"at most {MAX_DISPLAY_NAME_CHARS} characters"
            )
        validate_resource_labels(dict(labels))
        name = str(location.child("trainingPipelines", new_id(id_prefix)))
        # Its training is named under it, as Vertex AI names a resource's operations.
        op = self._trainings.start(location, training, api=api, id_prefix=id_prefix, parent=name)
        pipeline = TrainingPipeline(
            name=name,
            display_name=display_name,
            labels=dict(labels),
            spec=spec,
            operation=op.name,
            create_time=op.create_time,
        )
        with self._lock:
            atomic_write_json(self._path(pipeline.name), pipeline.to_json())
            self._pipelines[pipeline.name] = pipeline
        log.info("training pipeline %s runs %s", pipeline.name, op.name)
        return pipeline

    def get(self, name: str) -> TrainingPipeline:
        parse_resource(name, "trainingPipelines", "TrainingPipeline")
        with self._lock:
            pipeline = self._pipelines.get(name)
        if pipeline is None:
            raise NotFound(f"TrainingPipeline {name} does not exist.")
        return pipeline

    def status(self, pipeline: TrainingPipeline) -> PipelineStatus:
        return status_of(self._operations.get(pipeline.operation))

    def list_pipelines(
        self, location: LocationName
    ) -> list[tuple[TrainingPipeline, PipelineStatus]]:
        """Pipelines of a location, oldest first, with their status."""
        prefix = f"{location}/trainingPipelines/"
        with self._lock:
            found = [p for p in self._pipelines.values() if p.name.startswith(prefix)]
        found.sort(key=lambda p: (p.create_time, p.name))
        return [(p, self.status(p)) for p in found]

    def for_model(self, model: str) -> TrainingPipeline | None:
        """The pipeline that trained `model`, if one did (and still exists)."""
        with self._lock:
            pipelines = list(self._pipelines.values())
        return next((p for p in pipelines if self.status(p).model == model), None)

    def cancel(self, name: str) -> None:
        """Requests cancellation of the training; no effect once the pipeline has ended."""
        self._operations.cancel(self.get(name).operation)

    def delete(self, name: str) -> None:
        """Forgets a pipeline that has ended (its model, if any, stays)."""
        with self._lock:
            pipeline = self.get(name)
            state = self.status(pipeline).state
            if state not in _ENDED:
                raise FailedPrecondition(
                    f"TrainingPipeline {name} is {state.value}; only a pipeline that has ended "
                    "(SUCCEEDED, FAILED or CANCELLED) can be deleted: cancel it first"
                )
            self._pipelines.pop(name, None)
            remove_file(self._path(name))
        log.info("training pipeline %s deleted", name)
