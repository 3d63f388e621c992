"""Firebase ML custom models: records, model-file validation, publishing, listing.

Behaviour of the service (REST v1beta2 `projects.models`, as firebase-admin 7.x uses it; the
texts are in emulator/core/firebase_errors.py, emulator/FIDELITY.md lists every choice):
- Create and update validate a model file in a long-running operation; the facade answers once
  it is done (both SDKs' integration tests find a created model unlocked and validated). While
  it runs, the model lists the operation in `activeOperations`: it is locked ("You can't make
  changes to a locked model", Node Admin SDK reference). Changes sent to a locked model wait
  for the operation (at most `lock_wait_seconds`), then fail with FAILED_PRECONDITION.
- Validation: the `gs://` object exists, is at most `max_model_bytes`, is a TF Lite flatbuffer
  ("Invalid flatbuffer format", TF Lite's verifier) and loads in the TF Lite runtime
  (ai_edge_litert). A failure is recorded as `state.validationError` ("if a tflite model file
  was missing or in the wrong format", REST reference); the operation itself succeeds.
- `tfliteModel.gcsTfliteUri` is the file last sent; `sizeBytes` is present when that file
  passed. `modelHash` (sha256 of the bytes, hex) is the file apps download: it "will change if
  a new file is available for download", so a failed update keeps the previous one.
- Display names are unique per project (apps download a model by its name) and follow
  firebase-admin's rule, `[A-Za-z0-9_-]{1,32}` (firebase-admin-python#459 "to match changed
  backend requirements"). Model ids are numbers.
- Publishing needs a verified file. The service keeps a copy of each file it validated
  ("If you update the file in the original location, it is necessary to call UpdateModel for ML
  to pick up and validate the updated file"): `<root>/files/<sha256>.tflite`, what `download`
  serves.

State: `<root>/<model id>.json`, one atomic file per model, loaded on first use. Validation
interrupted by a stop or a crash leaves the model unlocked, its previous file in place and a
validationError saying so.
"""

import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from emulator.core.blobs import Blobs, parse_gs_uri
from emulator.core.errors import (
    Code,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    Status,
)
from emulator.core.firebase_errors import (
    INVALID_FLATBUFFER,
    NO_MODEL_FILE,
    FieldViolation,
    entity_not_found,
    model_exists,
    model_not_found,
    not_verified,
)
from emulator.core.model_filter import Filterable, parse_filter
from emulator.core.names import new_id
from emulator.core.operations import Operation, OperationContext, OperationStore, Outcome, utcnow
from emulator.core.persistence import (
    atomic_write_bytes,
    atomic_write_json,
    read_record,
    remove_file,
)
from emulator.core.tf_setup import native_logs_filtered, quiet_native_logs

log = logging.getLogger(__name__)

API = "firebaseml"
CREATE_KIND = "firebaseml_create_model"
UPDATE_KIND = "firebaseml_update_model"
# Fault-injection point inside validation (HOLD it to observe a locked model).
VALIDATE_STEP = "FirebaseML.validate"

# Firebase does not publish a size limit in its reference docs. 40 MB is the limit quoted by
# tensorflow/tfx-addons' Firebase ML publisher ("Firebase ML allows us to host a model whose
# size is under 40mb", tfx_addons/firebase_publisher/runner.py); its later code allows 80 MB,
# and a 2020 report (GantMan/nsfw_model#64) quotes the console's 100 MB. The emulator keeps
# the strictest, so a model that passes here passes there.
MAX_MODEL_BYTES = 40 * 1024 * 1024
LOCK_WAIT_SECONDS = 10.0

# firebase-admin 7.7.0 (ml._DISPLAY_NAME_PATTERN), changed in firebase-admin-python#459 "to match
# changed backend requirements"; firebase-admin-node's integration test creates
# 'node-integ-test-create-1' on Google. (The REST reference still says: letters, digits and
# underscores, starting with a letter.)
DISPLAY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# firebase-admin 7.7.0 (ml._TAG_PATTERN); the REST reference sets no rule for tags.
TAG_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Model ids are numbers: firebase-admin-node's integration test expects INVALID_ARGUMENT for
# 'invalid-model-id' and NOT_FOUND for '00000000'.
_MODEL_NAME = re.compile(r"projects/(?P<project>[^/]+)/models/(?P<id>[0-9]{1,20})")
_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite
# What LiteRT's Interpreter says of bytes that do not verify as a TF Lite flatbuffer.
_LITERT_NOT_A_FLATBUFFER = "not a valid Flatbuffer"


@dataclass(frozen=True)
class ModelFile:
    """A validated TF Lite file, as the model serves it."""

    gcs_tflite_uri: str
    size_bytes: int
    sha256: str

    def to_json(self) -> dict:
        return {
            "gcs_tflite_uri": self.gcs_tflite_uri,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModelFile":
        return cls(data["gcs_tflite_uri"], data["size_bytes"], data["sha256"])


@dataclass(frozen=True)
class FirebaseModel:
    name: str  # projects/{project}/models/{id}
    display_name: str
    tags: tuple[str, ...]
    create_time: datetime
    update_time: datetime
    etag: str = ""
    published: bool = False
    file: ModelFile | None = None  # the validated file apps download (modelHash)
    validation_error: Status | None = None
    source: str | None = None  # gs:// URI of the file last sent (tfliteModel.gcsTfliteUri)
    active_operations: tuple[str, ...] = ()  # operation names, not done yet

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def project(self) -> str:
        return self.name.split("/")[1]

    @property
    def size_bytes(self) -> int | None:
        """The size of the file last sent, when it passed validation (tfliteModel.sizeBytes)."""
        if self.file is None or self.validation_error is not None:
            return None
        return self.file.size_bytes

    @property
    def filterable(self) -> Filterable:
        return Filterable(self.display_name, self.tags, self.published)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "tags": list(self.tags),
            "create_time": self.create_time.isoformat(),
            "update_time": self.update_time.isoformat(),
            "etag": self.etag,
            "published": self.published,
            "file": self.file.to_json() if self.file else None,
            "validation_error": self.validation_error.to_json() if self.validation_error else None,
            "active_operations": list(self.active_operations),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict) -> "FirebaseModel":
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            tags=tuple(data["tags"]),
            create_time=datetime.fromisoformat(data["create_time"]),
            update_time=datetime.fromisoformat(data["update_time"]),
            etag=data["etag"],
            published=data["published"],
            file=ModelFile.from_json(data["file"]) if data["file"] else None,
            validation_error=(
                Status.from_json(data["validation_error"]) if data["validation_error"] else None
            ),
            active_operations=tuple(data["active_operations"]),
            # State written before `source` existed: the validated file was the last one sent.
            source=data.get("source", (data["file"] or {}).get("gcs_tflite_uri")),
        )


def _with_etag(model: FirebaseModel) -> FirebaseModel:
    """The model with its entity tag: a digest of everything else (changes with any change)."""
    body = {k: v for k, v in model.to_json().items() if k != "etag"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return replace(model, etag=digest[:40])


def validate_display_name(value: object, field: str = "model.display_name") -> str:
    if not isinstance(value, str) or DISPLAY_NAME_PATTERN.fullmatch(value) is None:
        raise FieldViolation(
            field,
            f"{value!r} is not a valid display name: 1 to 32 ASCII letters, digits, '_' or '-'",
        )
    return value


def validate_tags(value: object, field: str = "model.tags") -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise FieldViolation(field, "must be a list of strings")
    bad = [t for t in value if TAG_PATTERN.fullmatch(t) is None]
    if bad:
        raise FieldViolation(
            field, f"{bad[0]!r} is not a valid tag: 1 to 32 ASCII letters, digits, '_' or '-'"
        )
    return tuple(value)


def model_source(
    value: object, now: datetime, field: str = "model.tflite_model.gcs_tflite_uri"
) -> str:
    """The `gs://` URI of a model source: a gs:// URI, or a signed Cloud Storage URL of one.

    firebase-admin sends a V4 signed URL (`https://<storage host>/<bucket>/<object>?X-Goog-...`,
    valid for 10 minutes) so the service can read the object; the model then records gs://.
    """
    if not isinstance(value, str) or not value:
        raise FieldViolation(field, "required (gs://bucket/model.tflite)")
    if value.startswith("gs://"):
        return _gs_uri(value, field)
    url = urlparse(value)
    bucket, _, obj = url.path.lstrip("/").partition("/")
    if url.scheme not in ("http", "https") or not bucket or not obj:
        raise FieldViolation(
            field, f"{value[:200]!r} is neither gs://bucket/object nor a signed Cloud Storage URL"
        )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    if "X-Goog-Signature" in query:
        try:
            signed = datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = signed + timedelta(seconds=int(query["X-Goog-Expires"]))
        except (KeyError, ValueError):
            raise FieldViolation(
                field, "the signed URL lacks a valid X-Goog-Date or X-Goog-Expires"
            ) from None
    elif "Signature" in query and "Expires" in query:
        try:
            expires = datetime.fromtimestamp(int(query["Expires"]), UTC)
        except ValueError:
            raise FieldViolation(field, "Expires is not a number") from None
    else:
        raise FieldViolation(
            field,
            f"{url.scheme}://{url.netloc}{url.path} is not signed; the service can only read "
            "objects through gs:// or a signed URL",
        )
    if now > expires:
        raise FieldViolation(
            field, f"the signed URL expired at {expires.isoformat()}; sign a new one"
        )
    return _gs_uri(f"gs://{bucket}/{unquote(obj)}", field)


def _gs_uri(uri: str, field: str) -> str:
    try:
        parse_gs_uri(uri, field)
    except InvalidArgument as exc:
        raise FieldViolation(field, exc.message) from None
    return uri


def check_model_file(blobs: Blobs, uri: str, max_bytes: int) -> tuple[ModelFile, bytes] | Status:
    """The validated file and its bytes, or the validation error (as the model will carry it)."""

    def invalid(message: str) -> Status:
        return Status(Code.INVALID_ARGUMENT, message)

    try:
        info = blobs.stat(uri)
    except NotFound:
        return invalid(f"The model file {uri} does not exist (or its bucket does not).")
    if info.size > max_bytes:
        return invalid(
            f"The model file {uri} is {info.size} bytes; Firebase ML accepts model files of at "
            f"most {max_bytes} bytes ({max_bytes / 2**20:g} MB)."
        )
    try:
        data = blobs.read(uri)
    except NotFound:
        return invalid(f"The model file {uri} does not exist (or its bucket does not).")
    # TF Lite's verifier checks the file identifier first (VerifyModelBuffer), then the
    # flatbuffer; the runtime verifies it the same way when it loads the model.
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        return invalid(INVALID_FLATBUFFER)
    problem = _litert_problem(data)
    if problem and _LITERT_NOT_A_FLATBUFFER in problem:
        return invalid(INVALID_FLATBUFFER)
    if problem:
        return invalid(f"The model file {uri} cannot be loaded by TensorFlow Lite: {problem}")
    return ModelFile(uri, len(data), hashlib.sha256(data).hexdigest()), data


def _litert_problem(data: bytes) -> str | None:
    """Why the TF Lite runtime refuses the model (None when it loads and allocates)."""
    from ai_edge_litert.interpreter import Interpreter

    quiet_native_logs()
    try:
        with native_logs_filtered():  # LiteRT announces its CPU delegate on first use
            interpreter = Interpreter(model_content=data, num_threads=1)
            interpreter.allocate_tensors()
    except Exception as exc:  # the runtime raises ValueError / RuntimeError with its reason
        return f"{type(exc).__name__}: {str(exc).strip()[:500]}"
    return None


def parse_model_name(name: str, project: str | None = None) -> tuple[str, str]:
    """(project, model id) of `projects/{p}/models/{id}`; FieldViolation when malformed."""
    match = _MODEL_NAME.fullmatch(name or "")
    if match is None:
        raise FieldViolation(
            "name",
            f"{name!r} is not a model name: projects/{{project_id}}/models/{{model_id}}, the "
            "model id a number",
        )
    if project is not None and match["project"] != project:
        raise FieldViolation("name", f"{name} is not in project {project}")
    return match["project"], match["id"]


class FirebaseModelStore:
    """All Firebase ML models of one emulator; thread-safe, one JSON file per model."""

    def __init__(
        self,
        root: Path,
        blobs: Blobs,
        operations: OperationStore,
        *,
        max_model_bytes: int = MAX_MODEL_BYTES,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._root = root
        self._blobs = blobs
        self._operations = operations
        self.max_model_bytes = max_model_bytes
        self.lock_wait_seconds = lock_wait_seconds
        self._models: dict[str, FirebaseModel] | None = None  # loaded on first use
        self._lock = threading.RLock()
        for kind in (CREATE_KIND, UPDATE_KIND):
            operations.register_recovery(kind, self._recover)

    # ---- persistence ----------------------------------------------------------------------

    def _loaded(self) -> dict[str, FirebaseModel]:
        """The models, read from disk on first use (after the emulator opened its state)."""
        with self._lock:
            if self._models is None:
                self._root.mkdir(parents=True, exist_ok=True)
                models = {}
                for path in sorted(self._root.glob("*.json")):
                    model = FirebaseModel.from_json(read_record(path))
                    models[model.name] = model
                self._models = models
            return self._models

    def _save(self, model: FirebaseModel) -> FirebaseModel:
        """Stamps the etag, writes and publishes the model. Caller holds the lock."""
        model = _with_etag(model)
        atomic_write_json(self._root / f"{model.id}.json", model.to_json())
        self._loaded()[model.name] = model
        return model

    def _recover(self, op: Operation) -> Outcome | None:
        """An operation found running at start: committed (response) or interrupted (None)."""
        with self._lock:
            model = self._loaded().get(op.resources[0])
            if model is None:
                return Outcome(
                    error=Status(Code.NOT_FOUND, f"Model {op.resources[0]} was deleted.")
                )
            if op.name not in model.active_operations:
                return Outcome(response=model.to_json())
            self._abandon(model.name, op.name)
        return None

    def _abandon(self, model_name: str, op_name: str) -> None:
        """Unlocks a model whose validation did not finish; its previous file stays."""
        with self._lock:
            model = self._loaded().get(model_name)
            if model is None or op_name not in model.active_operations:
                return
            self._save(
                replace(
                    model,
                    active_operations=tuple(o for o in model.active_operations if o != op_name),
                    validation_error=Status(
                        Code.ABORTED,
                        f"Validation of the model file was interrupted (operation {op_name}): "
                        "the service stopped. Update the model with its file again.",
                    ),
                    update_time=utcnow(),
                )
            )

    # ---- reads ------------------------------------------------------------------------------

    def _find(self, name: str) -> FirebaseModel | None:
        parse_model_name(name)
        with self._lock:
            return self._loaded().get(name)

    def get(self, name: str) -> FirebaseModel:
        model = self._find(name)
        if model is None:
            raise entity_not_found()
        return model

    def list_models(self, project: str, filter_text: str = "") -> list[FirebaseModel]:
        """The project's models matching the filter, oldest first."""
        predicate = parse_filter(filter_text)
        prefix = f"projects/{project}/models/"
        with self._lock:
            models = [m for m in self._loaded().values() if m.name.startswith(prefix)]
        return sorted(
            (m for m in models if predicate(m.filterable)), key=lambda m: (m.create_time, m.name)
        )

    # ---- changes ----------------------------------------------------------------------------

    def _check_name_free(self, project: str, display_name: str) -> None:
        """ALREADY_EXISTS when another model of the project has the display name. Lock held."""
        for other in self._loaded().values():
            if other.project == project and other.display_name == display_name:
                raise model_exists(display_name)

    def create(
        self, project: str, display_name: str, tags: Sequence[str], source: str | None
    ) -> FirebaseModel | Operation:
        """Creates a model: at once without a file, else in an operation validating `source`."""
        validate_display_name(display_name)
        parent = f"projects/{project}"
        with self._lock:
            self._check_name_free(project, display_name)
            models = self._loaded()
            while True:
                name = f"{parent}/models/{new_id(digits=8)}"
                if name not in models:
                    break
            now = utcnow()
            model = FirebaseModel(name, display_name, tuple(tags), now, now)
            if source is None:
                no_file = Status(Code.INVALID_ARGUMENT, NO_MODEL_FILE)
                return self._save(replace(model, validation_error=no_file))
            # Locked while the lock is held: the work cannot commit before the model lists it.
            op = self._start_validation(parent, CREATE_KIND, name, source)
            self._save(replace(model, active_operations=(op.name,)))
            return op

    def update(
        self,
        name: str,
        *,
        display_name: str | None = None,
        tags: Sequence[str] | None = None,
        source: str | None = None,
        published: bool | None = None,
        etag: str | None = None,
    ) -> FirebaseModel | Operation:
        """Applies the given changes: the model at once, or an operation when a file is sent."""
        if display_name is not None:
            validate_display_name(display_name)
        self._wait_unlocked(name)
        with self._lock:
            model = self._loaded().get(name)
            if model is None:
                raise model_not_found(name)
            if model.active_operations:
                raise self._locked(model)
            if etag and etag != model.etag:
                raise ServiceError(
                    f"The model {name} changed since it was read (etag {etag!r} is not the "
                    f"current {model.etag!r}); read it again and retry",
                    Code.ABORTED,
                )
            changed = model
            if display_name is not None and display_name != model.display_name:
                self._check_name_free(model.project, display_name)
                changed = replace(changed, display_name=display_name)
            if tags is not None:
                changed = replace(changed, tags=tuple(tags))
            if published is not None:
                if published and changed.file is None:
                    raise not_verified()
                changed = replace(changed, published=published)
            if source is None:
                if changed == model:
                    return model  # nothing to change: same etag, same updateTime
                return self._save(replace(changed, update_time=utcnow()))
            op = self._start_validation(f"projects/{model.project}", UPDATE_KIND, name, source)
            self._save(replace(changed, active_operations=(op.name,), update_time=utcnow()))
            return op

    def delete(self, name: str) -> None:
        """Deletes the model (a validation still running finds it gone and ends NOT_FOUND)."""
        with self._lock:
            model = self.get(name)
            remove_file(self._root / f"{model.id}.json")
            del self._loaded()[name]
            self._drop_unused_copy(model.file)

    # ---- downloads (devices) ----------------------------------------------------------------

    def _file_path(self, sha256: str) -> Path:
        return self._root / "files" / f"{sha256}.tflite"

    def _drop_unused_copy(self, file: ModelFile | None) -> None:
        """Removes the copy of a file no model serves any more. Caller holds the lock."""
        if file is not None and all(
            m.file is None or m.file.sha256 != file.sha256 for m in self._loaded().values()
        ):
            remove_file(self._file_path(file.sha256))

    def download(self, name: str) -> tuple[ModelFile, bytes]:
        """The file apps get for a published model; NOT_FOUND for any other (as for a device)."""
        model = self.get(name)
        if not model.published or model.file is None:
            raise entity_not_found()
        try:
            return model.file, self._file_path(model.file.sha256).read_bytes()
        except FileNotFoundError:
            pass
        # Validated before the emulator kept copies: the object, if it is still that file.
        with contextlib.suppress(NotFound):
            data = self._blobs.read(model.file.gcs_tflite_uri)
            if hashlib.sha256(data).hexdigest() == model.file.sha256:
                return model.file, data
        raise entity_not_found()

    # ---- validation -------------------------------------------------------------------------

    def _locked(self, model: FirebaseModel) -> FailedPrecondition:
        return FailedPrecondition(
            f"Model {model.name} is locked by operation {model.active_operations[0]} (its model "
            "file is being validated); wait for it (Model.wait_for_unlocked) and retry"
        )

    def _wait_unlocked(self, name: str) -> FirebaseModel:
        """The model once its operations are done, waiting at most lock_wait_seconds."""
        model = self._find(name)
        if model is None:
            raise model_not_found(name)
        deadline = utcnow() + timedelta(seconds=self.lock_wait_seconds)
        while model.active_operations:
            left = (deadline - utcnow()).total_seconds()
            if left <= 0:
                raise self._locked(model)
            with contextlib.suppress(NotFound):  # deleted meanwhile: the re-read decides
                self._operations.wait(model.active_operations[0], min(left, 1.0))
            with self._lock:
                current = self._loaded().get(name)
            if current is None:
                raise model_not_found(name)
            if current == model and self._operation_done(model.active_operations[0]):
                break  # the operation ended without committing (interrupted); fail below
            model = current
        return model

    def _operation_done(self, op_name: str) -> bool:
        try:
            return self._operations.get(op_name).done
        except NotFound:
            return True

    def _start_validation(self, parent: str, kind: str, model_name: str, source: str) -> Operation:
        def work(context: OperationContext) -> dict:
            committed = False
            try:
                context.set_details(status="BASIC_OPERATION_STATUS_VERIFYING")
                context.checkpoint(VALIDATE_STEP)
                outcome = check_model_file(self._blobs, source, self.max_model_bytes)
                context.raise_if_stopping()
                result = self._commit(model_name, context.name, source, outcome)
                committed = True
                return result
            finally:
                if not committed:
                    self._abandon(model_name, context.name)

        return self._operations.start(
            parent,
            API,
            kind,
            [model_name],
            work,
            details={"model": model_name, "status": "BASIC_OPERATION_STATUS_UPLOADING"},
        )

    def _commit(
        self,
        model_name: str,
        op_name: str,
        source: str,
        outcome: tuple[ModelFile, bytes] | Status,
    ) -> dict:
        """Records the validation's outcome; a failure keeps the file apps download."""
        with self._lock:
            model = self._loaded().get(model_name)
            if model is None:
                raise model_not_found(model_name)
            remaining = tuple(o for o in model.active_operations if o != op_name)
            if isinstance(outcome, Status):
                log.info("firebase ml: %s failed validation: %s", model_name, outcome.message)
                model = replace(model, validation_error=outcome)
            else:
                file, data = outcome
                if not self._file_path(file.sha256).exists():
                    self._file_path(file.sha256).parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(self._file_path(file.sha256), data)
                model = replace(model, file=file, validation_error=None)
            previous = self._loaded()[model_name].file
            model = replace(model, source=source, active_operations=remaining, update_time=utcnow())
            saved = self._save(model)
            if previous != saved.file:
                self._drop_unused_copy(previous)
            return saved.to_json()
