"""The TrainingApi port: what the providers need from an AutoML-style training service.

Two adapters implement it — `automl_v1` (the AutoML v1 surface, served by the emulator) and
`vertex` (Vertex AI, today's service). Values crossing the port are plain frozen
dataclasses, so the providers and the gate never see either API's types; a model's evaluation
metrics are those of components/evaluation/metrics.py, which the gate reads.
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.exports import ExportedModel, read_export
from components.cloud.storage import ObjectStore, split_uri
from components.evaluation.metrics import Evaluations

# Labels the tool sets on cloud resources (GCP label rules: lowercase, ≤ 63 characters).
LABEL_MANAGED = "edge-labeler"
LABEL_STACK = "edge-labeler-stack"
LABEL_FINGERPRINT = "edge-labeler-fingerprint"
# The spec's seed. Google's services have no seed (they ignore the label); the local
# emulator seeds training with it, so the same spec trains the same model.
LABEL_SEED = "edge-labeler-seed"

Progress = Callable[[str], None]

# Polling a long-running operation: the first look after FIRST_POLL_S, each wait 1.5× the last,
# up to the caller's cap. google-api-core's `Operation.result()` backs off the same way
# (`DEFAULT_POLLING`: 1 s × 1.5 up to 20 s, each wait drawn at random below the bound); ours
# starts lower, since an import or export of a few thousand images often ends in well under a
# second, and waits the bound itself (one poller per operation: no herd to spread out).
FIRST_POLL_S = 0.1
POLL_GROWTH = 1.5


def poll_delays(cap: float, first: float = FIRST_POLL_S) -> Iterator[float]:
    """The waits between polls: `first`, growing by POLL_GROWTH, never above `cap`."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * POLL_GROWTH, cap)


def sooner_if_ending(delay: float, elapsed: float, percent: int | None) -> float:
    """The wait before the next poll: the backoff's `delay`, or less when the operation's
    progress so far says it ends sooner (a linear forecast), though never less than
    FIRST_POLL_S nor than a 20th of the time waited (a progress stuck near 100 % is not polled
    ever faster)."""
    if not percent or not 0 < percent < 100:
        return delay
    remaining = elapsed * (100 - percent) / percent
    return min(delay, max(FIRST_POLL_S, elapsed / 20, remaining))


def fingerprint_label(fingerprint: str) -> str:
    """A `sha256:<hex>` fingerprint as a label value (128 bits of it: labels hold ≤ 63 chars)."""
    return fingerprint.removeprefix("sha256:")[:32]


def base_model_id(base_model: str | None) -> str:
    """A model resource name → its id; the emulator also takes `file:///…` (a local file)."""
    if not base_model:
        return ""
    return base_model if base_model.startswith("file://") else base_model.rsplit("/", 1)[-1]


def proto_time(stamp: object) -> str:
    """RFC 3339 of a message's Timestamp field ("" when unset): proto-plus hands it out as a
    datetime, though the generated type hints say Timestamp."""
    return stamp.isoformat() if isinstance(stamp, datetime) else ""


def operation_error(op: Any) -> tuple[str | None, bool]:
    """(error message, cancelled) of a `google.longrunning` Operation; (None, False) unless it
    finished with an error."""
    if not (op.done and op.HasField("error")):
        return None, False
    cancelled = op.error.code == 1  # google.rpc.Code.CANCELLED
    return op.error.message or f"failed with code {op.error.code}", cancelled


@dataclass(frozen=True)
class CloudDataset:
    name: str  # full resource name
    display_name: str
    example_count: int
    multilabel: bool
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    annotation_specs: Mapping[str, str] = field(  # label display name → annotation spec id
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True)
class OperationState:
    name: str
    done: bool
    error: str | None = None  # set when done and failed
    cancelled: bool = False
    progress_percent: int | None = None
    result: str | None = None  # resource name produced (model, dataset), when done
    detail: str | None = None  # facade-specific: e.g. export output directory


@dataclass(frozen=True)
class CloudModel:
    name: str
    display_name: str
    dataset: str
    model_type: str
    labels: Mapping[str, str]
    train_budget_milli_node_hours: int
    train_cost_milli_node_hours: int
    stop_reason: str
    create_time: str  # RFC 3339
    deployed: bool = False


class TrainingApi(ABC):
    """Datasets, training operations, models, evaluations and exports of one stack."""

    target: CloudTarget
    # The export file names each API documents (exports.py): this API's first.
    export_layouts: Sequence[Mapping[str, str]]

    @abstractmethod
    def create_dataset(
        self, display_name: str, multilabel: bool, labels: Mapping[str, str]
    ) -> CloudDataset:
        """Creates a dataset; a retry first adopts one with these labels and display name."""

    @abstractmethod
    def start_import(self, dataset: str, csv_uri: str) -> str:
        """Starts importing a CSV index; returns the operation name (where the API can tell,
        that of an import already running on the dataset, e.g. an interrupted run's)."""

    @abstractmethod
    def get_dataset(self, name: str) -> CloudDataset | None: ...

    @abstractmethod
    def find_datasets(self, labels: Mapping[str, str]) -> list[CloudDataset]:
        """Datasets carrying all of these labels."""

    @abstractmethod
    def delete_dataset(self, name: str) -> None:
        """Deletes the dataset; a dataset that is already gone is not an error."""

    @abstractmethod
    def start_training(
        self,
        dataset: str,
        display_name: str,
        model_type: str,
        budget_milli_node_hours: int,
        labels: Mapping[str, str],
        base_model: str | None = None,
        recover: Callable[[], str | None] | None = None,
    ) -> str:
        """Starts training (and billing); returns the operation name.

        A transient error leaves it unknown whether the training started: before a retry,
        `recover()` answers the operation of the training the failed attempt started after all
        (None: it did not, and the call is made again). Without `recover`, no retry.
        """

    @abstractmethod
    def find_trainings(self, labels: Mapping[str, str], since: datetime | None = None) -> list[str]:
        """Trainings that may carry `labels` and have made, or may still make, a model.

        Vertex AI: the pipelines with these labels, queued, running or succeeded. AutoML v1
        (whose operations carry no labels): every unfinished CreateModel operation of the
        location created since `since` (none without it) — candidates to wait for, after
        which the models are looked up by label.
        """

    @abstractmethod
    def get_operation(self, name: str) -> OperationState: ...

    @abstractmethod
    def cancel_operation(self, name: str) -> None: ...

    @abstractmethod
    def get_model(self, name: str) -> CloudModel | None: ...

    @abstractmethod
    def find_models(self, labels: Mapping[str, str]) -> list[CloudModel]:
        """Models carrying all of these labels."""

    @abstractmethod
    def delete_model(self, name: str) -> None:
        """Deletes the model; a model that is already gone is not an error."""

    @abstractmethod
    def evaluations(self, model: str) -> Evaluations: ...

    @abstractmethod
    def start_export(self, model: str, model_format: str, gcs_prefix: str) -> str:
        """Starts exporting in `model_format` (tflite | edgetpu_tflite | tf_saved_model)."""

    def read_export(self, directory: str, model_format: str) -> ExportedModel:
        """The model file and labels of an export folder (the operation's `detail`), read
        through the documented layouts, this API's first. CloudError when it holds no model."""
        bucket, prefix = split_uri(directory)
        store = ObjectStore(self.target, bucket)
        folder = prefix.rstrip("/") + "/"
        names = {name.removeprefix(folder) for name in store.names(folder)}
        return read_export(
            directory,
            model_format,
            names,
            lambda name: store.read(folder + name),
            self.export_layouts,
        )

    def wait(
        self,
        operation: str,
        *,
        what: str,
        progress: Progress | None = None,
        poll_seconds: float = 2.0,
        timeout_seconds: float | None = None,
    ) -> OperationState:
        """Polls until done (waits growing from FIRST_POLL_S to `poll_seconds`, shorter when
        the operation's progress says it ends sooner); raises CloudError naming `what` when
        the operation failed."""
        start = time.monotonic()
        last = None
        delays = poll_delays(poll_seconds)
        while True:
            state = self.get_operation(operation)
            if state.done:
                break
            elapsed = time.monotonic() - start
            if progress is not None and state.progress_percent != last:
                last = state.progress_percent
                pct = f"{state.progress_percent}%" if state.progress_percent is not None else "…"
                progress(f"{what}: {pct} after {elapsed:.0f}s")
            if timeout_seconds is not None and elapsed > timeout_seconds:
                raise CloudError(
                    f"{what}: still running after {timeout_seconds:.0f}s (operation {operation})"
                )
            time.sleep(sooner_if_ending(next(delays), elapsed, state.progress_percent))
        if state.cancelled:
            raise CloudError(f"{what}: cancelled (operation {operation})")
        if state.error:
            raise CloudError(f"{what}: {state.error} (operation {operation})")
        return state
