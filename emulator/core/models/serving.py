"""Serving: deployment, online prediction from the deployed model, batch prediction.

Answers come from the model's TF Lite file (what `tflite` exports), loaded once per deployed
model (after a restart: on first use). Deployment changes and batch predictions run in
background operations. Checkpoints (fault injection, see faults.py): `DeployModel.commit`,
`BatchPredict.write`.
"""

import csv
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from emulator.core.blobs import Blobs, folder_timestamp, output_directory, parse_gs_uri
from emulator.core.errors import (
    Code,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Status,
)
from emulator.core.models.records import DeploymentState, ModelRecord, ModelStore
from emulator.core.names import parse_resource
from emulator.core.operations import Operation, OperationContext, OperationStore, Outcome, utcnow
from emulator.core.predictor import DEFAULT_SCORE_THRESHOLD, PredictionError, Predictor

log = logging.getLogger(__name__)

MIN_NODE_COUNT, MAX_NODE_COUNT = 1, 100
DEPLOY_COMMIT_STEP = "DeployModel.commit"
BATCH_PREDICT_WRITE_STEP = "BatchPredict.write"


@dataclass(frozen=True)
class Prediction:
    """One label of an online or batch prediction."""

    annotation_spec_id: str
    display_name: str
    score: float


@dataclass(frozen=True)
class PredictionFields:
    """Where prediction requests hold their inputs (for `Field: …` in error messages)."""

    image: str  # the encoded image of an online prediction
    score_threshold: str
    input_uris: str  # the CSV files of a batch prediction
    output_uri_prefix: str


class ModelServing:
    """Deployment state and predictors of the store's models; thread-safe (the store's lock)."""

    def __init__(self, models: ModelStore, blobs: Blobs, operations: OperationStore) -> None:
        self._models = models
        self._blobs = blobs
        self._operations = operations
        self._predictors: dict[str, Predictor] = {}
        operations.register_recovery("deploy_model", self._recover_deployment)
        operations.register_recovery("undeploy_model", self._recover_deployment)
        models.on_delete(self._forget)

    # ---- deployment -------------------------------------------------------------------------

    def start_deployment(
        self,
        name: str,
        node_count: int | None,
        *,
        node_count_field: str,
        api: str,
        id_prefix: str = "",
        parent: str | None = None,
        details: dict | None = None,
    ) -> Operation:
        """Deploys the model on `node_count` nodes (default 1), or changes its node count.

        `parent`: whose operation it is (default: the model's location); `details`: more for
        the operation's rendering (e.g. Vertex AI's deployed model)."""
        nodes = node_count or MIN_NODE_COUNT
        if not MIN_NODE_COUNT <= nodes <= MAX_NODE_COUNT:
            raise InvalidArgument(
                f"Field: {node_count_field}; Message: "
                f"{nodes} is out of range; allowed: {MIN_NODE_COUNT}–{MAX_NODE_COUNT}"
            )
        return self._start_deployment_change(
            name, "deploy_model", nodes, api, id_prefix, parent, details
        )

    def start_undeployment(
        self,
        name: str,
        *,
        api: str,
        id_prefix: str = "",
        parent: str | None = None,
        details: dict | None = None,
    ) -> Operation:
        """Stops serving online predictions (no effect when the model is not deployed)."""
        return self._start_deployment_change(
            name, "undeploy_model", 0, api, id_prefix, parent, details
        )

    def _start_deployment_change(
        self,
        name: str,
        kind: str,
        nodes: int,
        api: str,
        id_prefix: str,
        parent: str | None,
        details: dict | None,
    ) -> Operation:
        with self._models.lock:
            self._models.record(name)
            for op in self._operations.running(name):
                if op.kind in ("deploy_model", "undeploy_model"):
                    raise FailedPrecondition(
                        f"Model {name} already has a deployment change running ({op.name}, "
                        f"{op.kind}); wait for it first."
                    )
            return self._operations.start(
                parent=parent or str(parse_resource(name, "models", "Model").parent),
                api=api,
                kind=kind,
                resources=[name],
                work=lambda ctx: self._change_deployment(ctx, name, nodes),
                details={**(details or {}), "node_count": nodes},
                id_prefix=id_prefix,
            )

    def _change_deployment(self, ctx: OperationContext, name: str, nodes: int) -> dict:
        record = self._models.record(name)
        predictor = self._load_predictor(record) if nodes else None
        ctx.checkpoint(DEPLOY_COMMIT_STEP)
        with self._models.lock:
            record = self._models.record(name)
            deployed = DeploymentState.DEPLOYED if nodes else DeploymentState.UNDEPLOYED
            if (record.model.deployment_state, record.model.node_count) != (deployed, nodes):
                model = replace(
                    record.model, deployment_state=deployed, node_count=nodes, update_time=utcnow()
                )
                self._models.save(replace(record, model=model, version=record.version + 1))
            if predictor is None:
                self._predictors.pop(name, None)
            else:
                self._predictors[name] = predictor
        log.info("model %s %s", name, f"deployed on {nodes} node(s)" if nodes else "undeployed")
        return {}

    def _recover_deployment(self, op: Operation) -> Outcome | None:
        """A deployment change found running at start succeeded if its state reached disk."""
        record = self._models.find(op.resources[0])
        nodes = op.details.get("node_count", 0)
        if record is not None and record.model.node_count == nodes:
            return Outcome(response={})
        return None

    def _forget(self, name: str) -> None:
        """A deleted model stops serving (called under the store's lock)."""
        self._predictors.pop(name, None)

    def _load_predictor(self, record: ModelRecord) -> Predictor:
        try:
            return Predictor(self._models.model_dir(record.model.id))
        except (PredictionError, OSError, ValueError) as exc:
            raise Internal(f"Model {record.model.name} cannot be loaded: {exc}") from None

    def _predictor(self, record: ModelRecord) -> Predictor:
        name = record.model.name
        with self._models.lock:
            predictor = self._predictors.get(name)
        if predictor is None:  # deployed before a restart: load on first use
            predictor = self._load_predictor(record)
            with self._models.lock:
                predictor = self._predictors.setdefault(name, predictor)
        return predictor

    # ---- prediction -------------------------------------------------------------------------

    def predict(
        self,
        name: str,
        image: bytes,
        score_threshold: float | None = None,
        *,
        fields: PredictionFields,
    ) -> tuple[Prediction, ...]:
        """Labels scoring at least the threshold (default 0.5), highest first; needs DEPLOYED."""
        record = self._models.record(name)
        if record.model.deployment_state is not DeploymentState.DEPLOYED:
            raise FailedPrecondition(
                f"Model {name} is not deployed (deployment_state UNDEPLOYED); online prediction "
                "needs a deployed model: call DeployModel and wait for its operation"
            )
        threshold = _threshold(score_threshold, fields.score_threshold)
        if not image:
            raise InvalidArgument(f"Field: {fields.image}; Message: required; the encoded image")
        try:
            scores = self._predictor(record).predict(image, threshold)
        except PredictionError as exc:
            raise InvalidArgument(f"Field: {fields.image}; Message: {exc}") from None
        return _predictions(record, scores)

    def start_batch_prediction(
        self,
        name: str,
        input_uris: list[str],
        output_uri_prefix: str,
        score_threshold: float | None = None,
        *,
        fields: PredictionFields,
        api: str,
        id_prefix: str = "",
    ) -> Operation:
        """Predicts every image a CSV lists; JSONL results under `<prefix>/prediction-<name>-<ts>/`.

        Like the service, batch prediction does not need the model to be deployed.
        """
        record = self._models.record(name)
        threshold = _threshold(score_threshold, fields.score_threshold)
        if not input_uris:
            raise InvalidArgument(
                f"Field: {fields.input_uris}; Message: at least one gs:// URI of a CSV file is "
                "required"
            )
        for uri in input_uris:
            parse_gs_uri(uri, fields.input_uris)
        directory = output_directory(
            output_uri_prefix,
            f"prediction-{record.model.display_name}-{folder_timestamp()}",
            fields.output_uri_prefix,
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
        record = self._models.record(name)
        images = self._listed_images(input_uris)
        predictor = (
            self._predictor(record)
            if record.model.deployment_state is DeploymentState.DEPLOYED
            else self._load_predictor(record)
        )
        results: list[str] = []
        errors: list[str] = []
        failures: list[Status] = []
        for n, uri in enumerate(images, start=1):
            ctx.raise_if_stopping()
            outcome = self._predict_one(record, predictor, uri, threshold)
            if isinstance(outcome, Status):
                error = {"code": int(outcome.code), "message": outcome.message}
                errors.append(json.dumps({"ID": uri, "error": error}))
                failures.append(outcome)
                continue
            results.append(json.dumps({"ID": uri, "annotations": outcome}))
            ctx.progress(95 * n // len(images))
        ctx.add_partial_failures(failures)
        ctx.set_details(predicted=len(results), failed=len(errors))
        ctx.checkpoint(BATCH_PREDICT_WRITE_STEP)
        self._write_results(name, directory, results, errors)
        log.info(
            "model %s: batch prediction of %d images (%d failed) to %s",
            name,
            len(images),
            len(errors),
            directory,
        )
        return {}

    def _listed_images(self, input_uris: list[str]) -> list[str]:
        """The image URIs the input CSV files list (their first column)."""
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
        return images

    def _predict_one(
        self, record: ModelRecord, predictor: Predictor, uri: str, threshold: float
    ) -> list[dict] | Status:
        """One image's annotations (a JSON line's), or why it could not be predicted."""
        try:
            parse_gs_uri(uri)
            data = self._blobs.read(uri)
            scores = predictor.predict(data, threshold)
        except NotFound:
            return Status(Code.NOT_FOUND, f"{uri} does not exist")
        except InvalidArgument as exc:
            return Status(Code.INVALID_ARGUMENT, exc.message)
        except PredictionError as exc:
            return Status(Code.INVALID_ARGUMENT, f"{uri}: {exc}")
        return [
            {
                "annotation_spec_id": p.annotation_spec_id,
                "display_name": p.display_name,
                "classification": {"score": p.score},
            }
            for p in _predictions(record, scores)
        ]

    def _write_results(
        self, name: str, directory: str, results: list[str], errors: list[str]
    ) -> None:
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


def _predictions(record: ModelRecord, scores: Iterable) -> tuple[Prediction, ...]:
    specs = dict(record.label_specs)
    return tuple(Prediction(specs[s.label], s.label, s.score) for s in scores)


def _threshold(value: float | None, field: str) -> float:
    if value is None:
        return DEFAULT_SCORE_THRESHOLD
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"Field: {field}; Message: {value} is out of range; allowed: 0.0–1.0")
    return value
