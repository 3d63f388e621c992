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
Behaviour (validation, locking, filters) lives in emulator/core/firebase_models.py. Fault
injection names: `firebaseml.projects.models.create|get|list|patch|delete` and
`firebaseml.projects.operations.get`; the validation step is `FirebaseML.validate`.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.core.errors import InvalidArgument, NotFound, Status, Unimplemented
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

if TYPE_CHECKING:
    from emulator.server import EmulatorServer, HttpRequest, HttpResponse

BASE = "/v1beta2/projects/{project}"
OPERATION_METADATA_TYPE = "type.googleapis.com/google.firebase.ml.v1beta2.ModelOperationMetadata"
MODEL_TYPE = "type.googleapis.com/google.firebase.ml.v1beta2.Model"
# firebase-admin allows page sizes 1..100 (ml._MAX_PAGE_SIZE).
MAX_PAGE_SIZE = 100

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
    server: "EmulatorServer",
    *,
    max_model_bytes: int = MAX_MODEL_BYTES,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
) -> None:
    """Adds the Firebase ML routes (and the model store under the state dir) to the emulator."""
    from emulator.server import json_response

    backend = server.backend
    store = FirebaseModelStore(
        backend.state_dir / "firebase_ml",
        backend.blobs,
        backend.operations,
        max_model_bytes=max_model_bytes,
        lock_wait_seconds=lock_wait_seconds,
    )
    facade = FirebaseMlFacade(store, backend.operations)
    routes = (
        ("POST", f"{BASE}/models", facade.create, "firebaseml.projects.models.create"),
        ("GET", f"{BASE}/models", facade.list, "firebaseml.projects.models.list"),
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
        server.add_route(method, template, _json_route(handler, json_response), name)


def _json_route(handler, json_response):
    def route(request: "HttpRequest") -> "HttpResponse":
        return json_response(handler(request))

    return route


# ---- core → wire ----------------------------------------------------------------------------


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as the service writes them (and firebase-admin parses)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_json(status: Status) -> dict:
    return {"code": int(status.code), "message": status.message}


class FirebaseMlFacade:
    """One method per route: the request in, a JSON document out, ServiceError on failure."""

    def __init__(self, store: FirebaseModelStore, operations: Any) -> None:
        self.store = store
        self.operations = operations

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
            doc["tfliteModel"] = {
                "gcsTfliteUri": model.file.gcs_tflite_uri,
                "sizeBytes": str(model.file.size_bytes),  # int64 is a string in JSON
            }
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
        if op.done and op.error is not None:
            doc["error"] = status_json(op.error)
        elif op.done:
            snapshot = FirebaseModel.from_json(op.response or {})
            doc["response"] = {"@type": MODEL_TYPE, **self.model_json(snapshot)}
        return doc

    def _done(self, model: FirebaseModel) -> dict:
        """An operation that finished within the request (firebase-admin: no name needed)."""
        return {"done": True, "response": {"@type": MODEL_TYPE, **self.model_json(model)}}

    # ---- routes -----------------------------------------------------------------------------

    def create(self, request: "HttpRequest") -> dict:
        project = request.params["project"]
        body = _model_body(request)
        display_name = validate_display_name(body.get("displayName"))
        tags = validate_tags(body.get("tags", []))
        source = _source(body, required=False)
        op = self.store.create(project, display_name, tags, source)
        return self.operation_json(op)

    def get(self, request: "HttpRequest") -> dict:
        return self.model_json(self.store.get(_model_name(request)))

    def list(self, request: "HttpRequest") -> dict:
        project = request.params["project"]
        page_size = _int_param(request, ("page_size", "pageSize"))
        if page_size > MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"Field: page_size; Message: {page_size} is more than {MAX_PAGE_SIZE}"
            )
        token = _param(request, ("page_token", "pageToken"))
        models = self.store.list_models(project, _param(request, ("filter",)))
        page, next_token = paginate(models, page_size, token)
        doc: dict[str, Any] = {}
        if page:
            doc["models"] = [self.model_json(m) for m in page]
        if next_token:
            doc["nextPageToken"] = next_token
        return doc

    def patch(self, request: "HttpRequest") -> dict:
        name = _model_name(request)
        body = _model_body(request)
        mask = _param(request, ("updateMask", "update_mask"))
        if mask:
            paths = [p.strip() for p in mask.split(",") if p.strip()]
            unknown = [p for p in paths if p not in _MASK_PATHS]
            if unknown:
                raise InvalidArgument(
                    f"Field: updateMask; Message: {', '.join(unknown)} cannot be updated; "
                    "updatable: displayName, tags, state.published, tfliteModel.gcsTfliteUri"
                )
            fields = {_MASK_PATHS[p] for p in paths}
        else:  # no mask: every updatable field present in the body
            fields = set()
            if "displayName" in body:
                fields.add("display_name")
            if "tags" in body:
                fields.add("tags")
            if "published" in (body.get("state") or {}):
                fields.add("published")
            if body.get("tfliteModel"):
                fields.add("source")
        state = body.get("state") or {}
        if not isinstance(state, dict):
            raise InvalidArgument("Field: state; Message: must be an object")
        published = state.get("published", False) if "published" in fields else None
        if published is not None and not isinstance(published, bool):
            raise InvalidArgument("Field: state.published; Message: must be true or false")
        result = self.store.update(
            name,
            display_name=(
                validate_display_name(body.get("displayName")) if "display_name" in fields else None
            ),
            tags=validate_tags(body.get("tags", [])) if "tags" in fields else None,
            source=_source(body, required=True) if "source" in fields else None,
            published=published,
            etag=body.get("etag") if isinstance(body.get("etag"), str) else None,
        )
        if isinstance(result, FirebaseModel):
            return self._done(result)
        return self.operation_json(result)

    def delete(self, request: "HttpRequest") -> dict:
        self.store.delete(_model_name(request))
        return {}

    def get_operation(self, request: "HttpRequest") -> dict:
        project = request.params["project"]
        name = f"projects/{project}/operations/{request.params['operation']}"
        try:
            op = self.operations.get(name)
        except (NotFound, InvalidArgument):
            op = None
        if op is None or op.api != API:
            raise NotFound(f"Operation {name} not found.")
        return self.operation_json(op)


# ---- wire → core ----------------------------------------------------------------------------


def _model_name(request: "HttpRequest") -> str:
    name = f"projects/{request.params['project']}/models/{request.params['model']}"
    parse_model_name(name)
    return name


def _model_body(request: "HttpRequest") -> dict:
    body = request.json()
    if not isinstance(body, dict):
        raise InvalidArgument("The request body must be a JSON object (a Model).")
    unknown = sorted(set(body) - _MODEL_FIELDS)
    if unknown:
        raise InvalidArgument(
            f"Invalid JSON payload received. Unknown name {unknown[0]!r} at 'model': a Model has "
            f"{', '.join(sorted(_MODEL_FIELDS))}"
        )
    return body


def _source(body: dict, required: bool) -> str | None:
    tflite = body.get("tfliteModel")
    if not tflite:
        if required:
            raise InvalidArgument(
                "Field: tfliteModel.gcsTfliteUri; Message: required by the update mask"
            )
        return None
    if not isinstance(tflite, dict):
        raise InvalidArgument("Field: tfliteModel; Message: must be an object")
    if tflite.get("automlModel"):
        raise Unimplemented(
            "Field: tfliteModel.automlModel; Message: AutoML sources are not served by the "
            "emulator (firebase-admin 7.x removed TFLiteAutoMlSource); export the model to "
            "Cloud Storage and use gcsTfliteUri"
        )
    return model_source(tflite.get("gcsTfliteUri"), datetime.now(UTC))


def _param(request: "HttpRequest", names: tuple[str, ...]) -> str:
    for name in names:
        values = request.query.get(name)
        if values:
            return values[0]
    return ""


def _int_param(request: "HttpRequest", names: tuple[str, ...]) -> int:
    text = _param(request, names)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"Field: {names[0]}; Message: {text!r} is not a number") from None
