"""TrainedModel: an Edge model trained once per fingerprint, never twice by accident.

AutoML and Vertex AI bill every training they start and make none idempotent. This provider
pays for at most one training per fingerprint (dataset fingerprint + training config), whatever
fails or is killed, using the cloud and the stack's bucket as the only memory:
1. a finished model labelled with the fingerprint is adopted;
2. a training recorded in the bucket (`.edge-labeler/operations/<fingerprint>.json`) is
   re-attached to; a training that may be running unrecorded is waited for, then adopted by
   label — on Vertex AI a pipeline carrying the labels; on AutoML v1, whose operations carry no
   labels, every unfinished CreateModel operation created since the recorded intent;
3. otherwise the *intent* is recorded first (if that fails, nothing is started), the training
   is started (a transient error is retried only after step 2 found nothing), and its
   operation is recorded best-effort (if that fails, the run still waits for it).
"""

import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Generic, Never, NotRequired, TypedDict

import pulumi
from pulumi.runtime import rpc

from components.cloud.adapters import training_api
from components.cloud.clients import STORAGE, TRAINING, CloudInputs, CloudTarget
from components.cloud.errors import CloudError
from components.cloud.records import model_fingerprint, now, operation_path
from components.cloud.storage import ObjectStore
from components.cloud.training import (
    LABEL_FINGERPRINT,
    LABEL_MANAGED,
    LABEL_SEED,
    LABEL_STACK,
    CloudModel,
    OperationState,
    TrainingApi,
    fingerprint_label,
    poll_delays,
)
from components.providers.base import (
    DynamicResource,
    Outputs,
    Pending,
    Props,
    Provider,
    UserError,
)
from components.spec import Model as ModelSpec
from components.spec.paths import root_relative

OUTPUTS = (
    "fingerprint",
    "baseModel",
    "modelName",
    "stopReason",
    "trainCostMilliNodeHours",
    "createTime",
    "operation",
)


Log = Callable[[str], None]


class TrainedModelInputs(TypedDict):
    baseModelPath: NotRequired[str | None]  # relative to the project root
    name: str
    cloud: CloudInputs
    displayName: str
    modelType: str
    budgetMilliNodeHours: int
    seed: int
    retainOnDelete: bool


class TrainedModelLinks(TypedDict, Generic[Pending]):
    bucket: str | Pending
    datasetName: str | Pending
    datasetFingerprint: str | Pending
    # `baseModel: {model: …}`: that model's
    baseModelName: NotRequired[str | Pending]
    baseModelFingerprint: NotRequired[str | Pending]


class TrainedModelOutputs(TypedDict, total=False):
    fingerprint: str  # computed by `check`; unknown in a preview of a dataset change
    baseModel: str | None  # the base model's identity, computed by `check`
    modelName: str
    stopReason: str
    trainCostMilliNodeHours: int
    createTime: str
    operation: str | None


class TrainedModelProps(TrainedModelInputs, TrainedModelLinks[Never], TrainedModelOutputs):
    pass


def trained_model_inputs(
    spec: ModelSpec, target: CloudTarget, root: Path = Path(".")
) -> TrainedModelInputs:
    """Inputs from a Model spec; the dataset's name/fingerprint and bucket come as outputs
    (and, for `baseModel: {model: …}`, that model's name and fingerprint)."""
    base_path = None
    if spec.base_model is not None and spec.base_model.path is not None:
        base_path = root_relative(spec.base_model.path, root)
    return {
        "baseModelPath": base_path,
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE, TRAINING),
        "displayName": spec.cloud_display_name(target.stack),
        "modelType": spec.optimize_for.automl_model_type,
        "budgetMilliNodeHours": spec.budget.milli_node_hours,
        "seed": spec.seed,
        "retainOnDelete": spec.retain_on_delete,
    }


def _known(value: object) -> bool:
    return value is not None and value != rpc.UNKNOWN


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _poll_seconds(target: CloudTarget) -> float:
    return 0.5 if target.emulator else 30.0


class TrainedModelProvider(Provider[TrainedModelProps]):
    outputs = OUTPUTS
    kind = "Model"
    replace_on = ("fingerprint", "cloud")
    update_on = ("retainOnDelete", "displayName")

    def _check(self, olds: Props, news: TrainedModelProps) -> TrainedModelProps:
        # In a preview of a dataset change the dataset's fingerprint is not known yet, and
        # neither is this one: the diff then shows the model being replaced (retrained).
        base = None
        if base_path := news.get("baseModelPath"):
            path = Path(base_path)
            if not path.exists():
                raise UserError(f"baseModel.path {path}: no such file or directory")
            base = base_model_identity(path)
        elif news.get("baseModelFingerprint") is not None:
            base = news["baseModelFingerprint"]
        news = {**news, "baseModel": base}
        if not all(_known(p) for p in (news.get("datasetFingerprint"), base or "")):
            return {**news, "fingerprint": rpc.UNKNOWN}
        fingerprint = model_fingerprint(
            news["datasetFingerprint"],
            news["modelType"],
            int(news["budgetMilliNodeHours"]),
            news.get("baseModel") or None,
            int(news.get("seed") or 0),
        )
        return {**news, "fingerprint": fingerprint}

    def _create(self, props: TrainedModelProps) -> tuple[str, TrainedModelOutputs]:
        log = self.log(props)
        target = CloudTarget.from_inputs(props["cloud"])
        api = training_api(target)
        store = ObjectStore(target, props["bucket"])
        labels = {
            LABEL_MANAGED: "model",
            LABEL_STACK: target.stack,
            LABEL_FINGERPRINT: fingerprint_label(props["fingerprint"]),
        }
        adopted = self._adopt(api, store, labels, props, log)
        if adopted is not None:
            return adopted[0].name, self._outputs(*adopted)
        operation, adopted_late = self._start(api, store, labels, props, log)
        if adopted_late is not None:  # a start that failed had started it after all
            return adopted_late.name, self._outputs(adopted_late, operation)
        state = self._wait(api, operation, props, log)
        model = api.get_model(state.result or "")
        if model is None:
            raise UserError(f"training {operation} finished but its model {state.result} is gone")
        log(
            f"trained {model.name}: {model.stop_reason}, used "
            f"{model.train_cost_milli_node_hours / 1000:g} of "
            f"{model.train_budget_milli_node_hours / 1000:g} node hours"
        )
        return model.name, self._outputs(model, operation)

    def _adopt(
        self,
        api: TrainingApi,
        store: ObjectStore,
        labels: Mapping[str, str],
        props: TrainedModelProps,
        log: Log,
    ) -> tuple[CloudModel, str | None] | None:
        """The model of this fingerprint: finished, recorded, or still training unrecorded."""
        found = api.find_models(labels)
        if found:
            log(f"adopted {found[0].name}: trained earlier with the same fingerprint, no training")
            return found[0], None
        recorded = store.read_json(operation_path(props["fingerprint"])) or {}
        operation = recorded.get("operation")
        if operation:
            log(f"re-attaching to training {operation} (started {recorded.get('started')})")
            state = self._settle(api, operation, props, log)
            if state is not None:
                model = api.get_model(state.result or "")
                if model is None:
                    raise UserError(
                        f"training {operation} finished but its model {state.result} is gone; "
                        f"delete {store.uri(operation_path(props['fingerprint']))} to train again"
                    )
                return model, operation
            return None
        return self._await_unrecorded(api, labels, _time(recorded.get("started")), props, log)

    def _await_unrecorded(
        self,
        api: TrainingApi,
        labels: Mapping[str, str],
        since: datetime | None,
        props: TrainedModelProps,
        log: Log,
    ) -> tuple[CloudModel, str | None] | None:
        """Waits for the trainings that may be this fingerprint's without a record (started by a
        run killed before it wrote one), then adopts the model they made with its labels."""
        candidates = api.find_trainings(labels, since)
        made: dict[str, str] = {}  # model name → operation
        for operation in candidates:
            log(f"waiting for training {operation}: it may be this fingerprint's, unrecorded")
            state = self._settle(api, operation, props, log)
            if state is not None and state.result:
                made[state.result] = operation
        if not candidates and since is None:
            return None  # nothing can be ours (AutoML v1 without an intent, say)
        # Looked up after the wait: a training that ended meanwhile has its model by now.
        found = api.find_models(labels)
        if not found:
            return None
        model = found[0]
        log(f"adopted {model.name}: trained with the same fingerprint, not retraining")
        return model, made.get(model.name)

    def _start(
        self,
        api: TrainingApi,
        store: ObjectStore,
        labels: Mapping[str, str],
        props: TrainedModelProps,
        log: Log,
    ) -> tuple[str, CloudModel | None]:
        """Records the intent, starts the training, records its operation: the operation, and
        the model when a start that failed had in fact trained it (found before a retry)."""
        path = operation_path(props["fingerprint"])
        record = {"fingerprint": props["fingerprint"], "dataset": props["datasetName"]}
        started = now()
        try:
            store.write_json(path, {**record, "operation": None, "started": started})
        except CloudError as err:
            raise UserError(
                f"{err}; nothing was started (no training, nothing billed): the intent to train "
                "is recorded before any training starts. Run again once Cloud Storage answers"
            ) from err
        budget_h = int(props["budgetMilliNodeHours"]) / 1000
        log(f"starting training: {props['modelType']}, budget {budget_h:g} node hours")

        adopted: list[CloudModel] = []

        def started_anyway() -> str | None:
            found = self._await_unrecorded(api, labels, _time(started), props, log)
            if found is None:
                return None  # nothing was started: the start is made again
            adopted.append(found[0])
            return found[1] or found[0].name

        operation = api.start_training(
            props["datasetName"],
            props["displayName"],
            props["modelType"],
            int(props["budgetMilliNodeHours"]),
            {**labels, LABEL_SEED: str(int(props.get("seed") or 0))},
            self._base_model_ref(props),
            recover=started_anyway,
        )
        if adopted:
            return operation, adopted[0]
        try:  # for the next run to re-attach at once; without it, it finds it by its intent
            store.write_json(path, {**record, "operation": operation, "started": started})
        except CloudError as err:
            log(f"warning: training {operation} is not recorded ({err}); waiting for it anyway")
        return operation, None

    def _settle(
        self, api: TrainingApi, operation: str, props: TrainedModelProps, log: Log
    ) -> OperationState | None:
        """Waits for a training; its state, or None when it ended without a model."""
        try:
            return self._wait(api, operation, props, log)
        except UserError as err:
            log(f"{err}; it made no model")
            return None

    def _wait(
        self, api: TrainingApi, operation: str, props: TrainedModelProps, log: Log
    ) -> OperationState:
        target = CloudTarget.from_inputs(props["cloud"])
        budget_h = int(props["budgetMilliNodeHours"]) / 1000
        start = time.monotonic()
        last_report = -1e9
        delays = poll_delays(_poll_seconds(target))
        while True:
            state = api.get_operation(operation)
            if state.done:
                break
            elapsed = time.monotonic() - start
            if elapsed - last_report >= (5 if target.emulator else 60):
                last_report = elapsed
                pct = state.progress_percent
                used = f", {pct}% of the budget used" if pct is not None else ""
                log(f"training {_duration(elapsed)} (budget {budget_h:g} node hours{used})")
            time.sleep(next(delays))
        if state.cancelled:
            raise UserError(f"training {operation} was cancelled; no model was produced")
        if state.error:
            raise UserError(f"training {operation} failed: {state.error}")
        return state

    @staticmethod
    def _base_model_ref(props: TrainedModelProps) -> str | None:
        """What the training API gets: another model's name, or a local file (emulator)."""
        if base_path := props.get("baseModelPath"):
            return Path(base_path).resolve().as_uri()
        return props.get("baseModelName") or None

    @staticmethod
    def _outputs(model: CloudModel, operation: str | None) -> TrainedModelOutputs:
        return {
            "modelName": model.name,
            "stopReason": model.stop_reason,
            "trainCostMilliNodeHours": model.train_cost_milli_node_hours,
            "createTime": model.create_time,
            "operation": operation,
        }

    def _read(self, id_: str, props: TrainedModelProps) -> TrainedModelOutputs | None:
        model = training_api(CloudTarget.from_inputs(props["cloud"])).get_model(id_)
        return None if model is None else self._outputs(model, props.get("operation"))

    def _update(self, id_: str, olds: TrainedModelProps, news: TrainedModelProps) -> Outputs:
        return {}  # retainOnDelete and the display name are the tool's own bookkeeping

    def _delete(self, id_: str, props: TrainedModelProps) -> None:
        log = self.log(props)
        if props.get("retainOnDelete"):
            log(f"retained {id_} (retainOnDelete): the cloud model is kept")
            return
        target = CloudTarget.from_inputs(props["cloud"])
        training_api(target).delete_model(id_)
        ObjectStore(target, props["bucket"]).delete([operation_path(props["fingerprint"])])
        log(f"deleted {id_}")


class TrainedModel(DynamicResource, module="edge-labeler", name="TrainedModel"):
    """A trained Edge model (AutoML / Vertex), adopted or re-attached, never trained twice."""

    modelName: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    stopReason: pulumi.Output[str]
    trainCostMilliNodeHours: pulumi.Output[float]
    baseModel: pulumi.Output[str]

    provider_type = TrainedModelProvider
    computed_outputs = OUTPUTS


def _time(stamp: object) -> datetime | None:
    """A record's RFC 3339 time, or None."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def base_model_identity(path: Path) -> str:
    """Content identity of a local base model file (part of the training fingerprint)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(f.relative_to(path.parent).as_posix().encode())
        h.update(f.read_bytes())
    return "sha256:" + h.hexdigest()
