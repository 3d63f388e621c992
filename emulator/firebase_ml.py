"""REST facade of Firebase ML v1beta2 (`firebaseml.googleapis.com`): JSON in, core calls, JSON out.

Served so that the unmodified firebase-admin 7.x client works with its base URLs pointed at
the emulator (components/cloud/clients.py does that). The routes, with firebase-admin's calls:
    POST   /v1beta2/projects/{p}/models                  ml.create_model → Operation
    GET    /v1beta2/projects/{p}/models                  ml.list_models (filter, page_size,
                                                          page_token; pageSize/pageToken too)
    GET    /v1beta2/projects/{p}/models/{id}             ml.get_model
    PATCH  /v1beta2/projects/{p}/models/{id}[?updateMask] ml.update_model, publish/unpublish
                                                          (updateMask=state.published) → Operation
    DELETE /v1beta2/projects/{p}/models/{id}             ml.delete_model → {}
    GET    /v1beta2/projects/{p}/operations/{id}         Model.wait_for_unlocked polling
    GET    /v1beta2/projects/{p}/models/{id}:download    devices (ML Kit); ?alt=media: the file
Create and patch answer an operation that is done once the file is validated (within
`answer_within_seconds`, else a running one the client polls); what the model's state refuses
(a taken name, a missing model, an unverified file) is the operation's error, as the SDKs'
integration tests see it. A malformed request is HTTP 400 with the service's generic message
and a google.rpc.BadRequest detail. Behaviour (validation, locking, filters) lives in
emulator/core/firebase_models.py; emulator/FIDELITY.md lists the differences from Google's.
Fault injection names: `firebaseml.projects.models.create|get|list|patch|delete` and
`firebaseml.projects.operations.get`; the validation step is `FirebaseML.validate`.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.core.errors import (
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    Status,
)
from emulator.core.firebase_errors import FieldViolation, entity_not_found
from emulator.core.firebase_models import (
    API,
    LOCK_WAIT_SECONDS,
    MAX_MODEL_BYTES,
    FirebaseModel,
    FirebaseModelStore,
    model_source,
    parse_model_name,
    validate_display_name,
    validate_tags,
)
from emulator.core.operations import Operation
from emulator.core.paging import paginate
from emulator.host import ServiceHost
from emulator.transport.rest import HttpRequest, HttpResponse, json_response

BASE = "/v1beta2/projects/{project}"
OPERATION_METADATA_TYPE = "type.googleapis.com/google.firebase.ml.v1beta2.ModelOperationMetadata"
MODEL_TYPE = "type.googleapis.com/google.firebase.ml.v1beta2.Model"
# firebase-admin allows page sizes 1..100 (ml._MAX_PAGE_SIZE).
MAX_PAGE_SIZE = 100
# How long create/patch wait for the file's validation before answering a running operation.
# Validation takes milliseconds here; the bound only matters when it is held (fault injection).
ANSWER_WITHIN_SECONDS = 60.0
# DownloadModelResponse.expireTime: Google's lifetime is unknown; the emulator's URI never expires.
DOWNLOAD_URI_LIFETIME = timedelta(hours=1)
# What the model's state refuses: the operation's error, not an HTTP error (see the docstring).
_OPERATION_ERRORS = {Code.NOT_FOUND, Code.ALREADY_EXISTS, Code.FAILED_PRECONDITION, Code.ABORTED}

# updateMask paths (JSON and proto spellings) → what they change.
_MASK_PATHS = {
    "display_name": "display_name",
    "displayName": "display_name",
    "tags": "tags",
    "state.published": "published",
    "tflite_model": "source",
    "tfliteModel": "source",
    "tflite_model.gcs_tflite_uri": "source",
    "tfliteModel.gcsTfliteUri": "source",
}
# Body fields a client may send (the rest of a Model is output only and ignored).
_MODEL_FIELDS = {
    "name",
    "displayName",
    "tags",
    "state",
    "tfliteModel",
    "etag",
    "createTime",
    "updateTime",
    "modelHash",
    "activeOperations",
}


def register(
    server: ServiceHost,
    *,
    max_model_bytes: int = MAX_MODEL_BYTES,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    answer_within_seconds: float = ANSWER_WITHIN_SECONDS,
) -> None:
    """Adds the Firebase ML routes (and the model store under the state dir) to the emulator."""
    backend = server.backend
    store = FirebaseModelStore(
        backend.state_dir / "firebase_ml",
        backend.blobs,
        backend.operations,
        max_model_bytes=max_model_bytes,
        lock_wait_seconds=lock_wait_seconds,
    )
    facade = FirebaseMlFacade(store, backend.operations, answer_within_seconds)
    routes = (
        ("POST", f"{BASE}/models", facade.create, "firebaseml.projects.models.create"),
        ("GET", f"{BASE}/models", facade.list, "firebaseml.projects.models.list"),
        # Before `get`: its {model} would match "123:download" too.
        (
            "GET",
            f"{BASE}/models/{{model}}:download",
            facade.download,
            "firebaseml.projects.models.download",
        ),
        ("GET", f"{BASE}/models/{{model}}", facade.get, "firebaseml.projects.models.get"),
        ("PATCH", f"{BASE}/models/{{model}}", facade.patch, "firebaseml.projects.models.patch"),
        ("DELETE", f"{BASE}/models/{{model}}", facade.delete, "firebaseml.projects.models.delete"),
        (
            "GET",
            f"{BASE}/operations/{{operation}}",
            facade.get_operation,
            "firebaseml.projects.operations.get",
        ),
    )
    for method, template, handler, name in routes:
        server.add_route(method, template, _route(handler, json_response, HttpResponse), name)


def _route(
    handler: Callable[[HttpRequest], dict | bytes],
    json_response: Callable[..., HttpResponse],
    http_response: type[HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A route answering the handler's JSON document (bytes: a media download)."""

    def route(request: HttpRequest) -> HttpResponse:
        try:
            result = handler(request)
            if isinstance(result, bytes):
                return http_response(200, result, "application/octet-stream")
            return json_response(result)
        except FieldViolation as exc:  # the server's error body has no details; this one does
            status = exc.code.http_status
            error = {"code": status, "message": exc.message, "status": exc.code.name}
            return json_response({"error": {**error, "details": exc.details()}}, status)

    return route


# ---- core → wire ----------------------------------------------------------------------------


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as the service writes them (and firebase-admin parses)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_json(status: Status) -> dict:
    return {"code": int(status.code), "message": status.message}


class FirebaseMlFacade:
    """One method per route: the request in, a JSON document out, ServiceError on failure."""

    def __init__(
        self,
        store: FirebaseModelStore,
        operations: Any,
        answer_within_seconds: float = ANSWER_WITHIN_SECONDS,
    ) -> None:
        self.store = store
        self.operations = operations
        self.answer_within_seconds = answer_within_seconds

    # ---- rendering --------------------------------------------------------------------------

    def model_json(self, model: FirebaseModel) -> dict:
        doc: dict[str, Any] = {
            "name": model.name,
            "displayName": model.display_name,
            "createTime": timestamp(model.create_time),
            "updateTime": timestamp(model.update_time),
            "etag": model.etag,
        }
        if model.tags:
            doc["tags"] = list(model.tags)
        state: dict[str, Any] = {}
        if model.published:
            state["published"] = True
        if model.validation_error is not None:
            state["validationError"] = status_json(model.validation_error)
        if state:
            doc["state"] = state
        if model.file is not None:
            doc["modelHash"] = model.file.sha256
        if model.source is not None:
            doc["tfliteModel"] = {"gcsTfliteUri": model.source}
            if model.size_bytes is not None:
                doc["tfliteModel"]["sizeBytes"] = str(model.size_bytes)  # int64: a JSON string
        active = []
        for name in model.active_operations:
            try:
                active.append(self.operation_json(self.operations.get(name)))
            except NotFound:
                continue
        if active:
            doc["activeOperations"] = active
        return doc

    def operation_json(self, op: Operation) -> dict:
        model = op.details.get("model") or op.resources[0]
        doc: dict[str, Any] = {
            "name": op.name,
            "metadata": {
                "@type": OPERATION_METADATA_TYPE,
                "name": model,
                "basicOperationStatus": op.details.get(
                    "status", "BASIC_OPERATION_STATUS_UNSPECIFIED"
                ),
            },
            "done": op.done,
        }
        if op.done:
            doc.update(self._outcome(op))
        return doc

    def _outcome(self, op: Operation) -> dict:
        """The `error` or `response` of a finished operation."""
        if op.error is not None:
            return {"error": status_json(op.error)}
        snapshot = FirebaseModel.from_json(op.response or {})
        return {"response": {"@type": MODEL_TYPE, **self.model_json(snapshot)}}

    def _done(self, model: FirebaseModel) -> dict:
        """An operation that finished within the request (firebase-admin: no name needed)."""
        return {"done": True, "response": {"@type": MODEL_TYPE, **self.model_json(model)}}

    def _answer(self, change: Callable[[], FirebaseModel | Operation]) -> dict:
        """The operation of a create or patch: done once validated, else still running."""
        try:
            result = change()
        except FieldViolation:
            raise  # a malformed request: HTTP 400
        except ServiceError as exc:
            if exc.code not in _OPERATION_ERRORS:
                raise
            return {"done": True, "error": status_json(exc.status)}
        if isinstance(result, FirebaseModel):
            return self._done(result)
        op = self.operations.wait(result.name, self.answer_within_seconds)
        if op.done:
            return {"done": True, **self._outcome(op)}
        return self.operation_json(op)

    # ---- routes -----------------------------------------------------------------------------

    def create(self, request: HttpRequest) -> dict:
        project = request.params["project"]
        body = _model_body(request)
        display_name = validate_display_name(body.get("displayName"))
        tags = validate_tags(body.get("tags") or [])
        source = _source(body, required=False)
        return self._answer(lambda: self.store.create(project, display_name, tags, source))

    def get(self, request: HttpRequest) -> dict:
        return self.model_json(self.store.get(_model_name(request)))

    def list(self, request: HttpRequest) -> dict:
        project = request.params["project"]
        page_size = _int_param(request, ("page_size", "pageSize"))
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise FieldViolation("page_size", f"{page_size} is not between 1 and {MAX_PAGE_SIZE}")
        token = _param(request, ("page_token", "pageToken"))
        models = self.store.list_models(project, _param(request, ("filter",)))
        try:
            page, next_token = paginate(models, page_size, token)
        except InvalidArgument as exc:
            raise FieldViolation("page_token", exc.message) from None
        doc: dict[str, Any] = {}
        if page:
            doc["models"] = [self.model_json(m) for m in page]
        if next_token:
            doc["nextPageToken"] = next_token
        return doc

    def patch(self, request: HttpRequest) -> dict:
        name = _model_name(request)
        body = _model_body(request)
        fields = _patched_fields(request, body)
        state = body.get("state") or {}
        if not isinstance(state, dict):
            raise FieldViolation("model.state", "must be an object")
        published = state.get("published", False) if "published" in fields else None
        if published is not None and not isinstance(published, bool):
            raise FieldViolation("model.state.published", "must be true or false")
        display_name = (
            validate_display_name(body.get("displayName")) if "display_name" in fields else None
        )
        tags = validate_tags(body.get("tags") or []) if "tags" in fields else None
        source = _source(body, required=True) if "source" in fields else None
        etag = body.get("etag") if isinstance(body.get("etag"), str) else None
        return self._answer(
            lambda: self.store.update(
                name,
                display_name=display_name,
                tags=tags,
                source=source,
                published=published,
                etag=etag,
            )
        )

    def download(self, request: HttpRequest) -> dict | bytes:
        """A device's download: where to get the published file (alt=media: the file itself)."""
        name = _model_name(request)
        file, data = self.store.download(name)
        if _param(request, ("alt",)) == "media":
            return data
        # The URI is this method's own media download (Google's `alt=media`), served from the
        # copy the emulator kept when it validated the file.
        host = request.headers.get("host", "127.0.0.1")
        expires = datetime.now(UTC) + DOWNLOAD_URI_LIFETIME
        return {
            "downloadUri": f"http://{host}/v1beta2/{name}:download?alt=media",
            "expireTime": timestamp(expires),
            "modelFormat": "TFLITE",
            "sizeBytes": str(file.size_bytes),
        }

    def delete(self, request: HttpRequest) -> dict:
        self.store.delete(_model_name(request))
        return {}

    def get_operation(self, request: HttpRequest) -> dict:
        project = request.params["project"]
        name = f"projects/{project}/operations/{request.params['operation']}"
        try:
            op = self.operations.get(name)
        except (NotFound, InvalidArgument):
            op = None
        if op is None or op.api != API:
            raise entity_not_found()
        return self.operation_json(op)


# ---- wire → core ----------------------------------------------------------------------------


def _model_name(request: HttpRequest) -> str:
    name = f"projects/{request.params['project']}/models/{request.params['model']}"
    parse_model_name(name)
    return name


def _model_body(request: HttpRequest) -> dict:
    body = request.json()
    if not isinstance(body, dict):
        raise FieldViolation("model", "the request body must be a JSON object (a Model)")
    unknown = sorted(set(body) - _MODEL_FIELDS)
    if unknown:
        # Google's front end words it so (google.rpc.BadRequest has the same text).
        text = (
            f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'model': "
            "Cannot find field."
        )
        raise FieldViolation("model", text, message=text)
    return body


def _patched_fields(request: HttpRequest, body: dict) -> set[str]:
    """What a patch changes: the updateMask's fields, or every updatable field in the body."""
    mask = _param(request, ("updateMask", "update_mask"))
    if mask:
        paths = [p.strip() for p in mask.split(",") if p.strip()]
        unknown = [p for p in paths if p not in _MASK_PATHS]
        if unknown:
            raise FieldViolation(
                "update_mask",
                f"{', '.join(unknown)} cannot be updated; updatable: displayName, tags, "
                "state.published, tfliteModel.gcsTfliteUri",
            )
        return {_MASK_PATHS[p] for p in paths}
    fields = set()
    if "displayName" in body:
        fields.add("display_name")
    if "tags" in body:
        fields.add("tags")
    if "published" in (body.get("state") or {}):
        fields.add("published")
    if body.get("tfliteModel"):
        fields.add("source")
    return fields


def _source(body: dict, required: bool) -> str | None:
    tflite = body.get("tfliteModel")
    if not tflite:
        if required:
            raise FieldViolation("model.tflite_model.gcs_tflite_uri", "required by the update mask")
        return None
    if not isinstance(tflite, dict):
        raise FieldViolation("model.tflite_model", "must be an object")
    if tflite.get("automlModel"):
        raise FailedPrecondition(
            "tfliteModel.automlModel is not served by the emulator (firebase-admin 7.x removed "
            "TFLiteAutoMlSource; AutoML Vision stopped serving image models): export the model "
            "to Cloud Storage and send tfliteModel.gcsTfliteUri"
        )
    return model_source(tflite.get("gcsTfliteUri"), datetime.now(UTC))


def _param(request: HttpRequest, names: tuple[str, ...]) -> str:
    for name in names:
        values = request.query.get(name)
        if values:
            return values[0]
    return ""


def _int_param(request: HttpRequest, names: tuple[str, ...]) -> int:
    text = _param(request, names)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise FieldViolation(names[0], f"{text!r} is not a number") from None
