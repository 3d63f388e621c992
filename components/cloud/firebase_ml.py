"""The `firebase_ml` Registry adapter: Firebase ML custom models through `firebase_admin.ml`.

A model is found by its display name (`list_models(display_name = …)`), created from a
`TFLiteGCSModelSource` (firebase-admin signs the gs:// URI for the service), updated with a new
file only when the sha256 changed, tagged, and published or unpublished. The confidence
threshold is a tag (`threshold-0_82`); the threshold, labels and sha256 are also in a manifest
beside the model in the stack's bucket:
    gs://<bucket>/firebase-ml/models/<displayName>/manifest.json  {displayName, tags, published,
        sha256, sizeBytes, threshold, labels, modelId, modelHash}
    gs://<bucket>/firebase-ml/models/<displayName>/model.tflite   only when the file was given
                                                                  as bytes (uploaded for Firebase)
The manifest records Firebase's `modelHash` after each upload, so a file replaced outside this
tool reads back with an unknown sha256 (drift), whatever hash Firebase computes.
"""

import contextlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import firebase_admin
from firebase_admin import exceptions as firebase_exceptions

from components.cloud import retry
from components.cloud.clients import CloudTarget, firebase_app, firebase_ml_module
from components.cloud.errors import CloudError, CloudNotFound, cloud_errors
from components.cloud.registry import (
    InvalidPublication,
    Progress,
    PublishedModel,
    PublishedModelSpec,
    Registry,
    manifest,
    parse_threshold_tag,
    registry_tags,
    user_tags,
    validate_display_name,
    validate_spec,
)
from components.cloud.storage import ObjectStore

# Firebase ML REST v1beta2, Model.displayName: "up to 32 characters long and can consist only
# of ASCII Latin letters A-Z and a-z, underscores(_) and ASCII digits 0-9. It must start with
# a letter." (firebase-admin's own check also allows '-' and a leading digit.)
FIREBASE_DISPLAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
WAIT_SECONDS = 600.0  # for validation of a model file (wait_for_unlocked)

_HINTS = {
    "PERMISSION_DENIED": "the credentials lack a Firebase ML permission",
    "UNAUTHENTICATED": "no valid credentials (set GOOGLE_APPLICATION_CREDENTIALS)",
    "RESOURCE_EXHAUSTED": "a quota or rate limit was hit; retry later",
    "UNAVAILABLE": "the service is unavailable; retry later",
    "DEADLINE_EXCEEDED": "the service did not answer in time; retry later",
    "FAILED_PRECONDITION": "the service refused it in the current state",
}


def model_prefix(display_name: str) -> str:
    return f"firebase-ml/models/{display_name}/"


@contextmanager
def firebase_errors(action: str) -> Iterator[None]:
    """Turns firebase-admin's errors into CloudError('<action>: <message> (<hint>)')."""
    try:
        with cloud_errors(action):
            yield
    except firebase_exceptions.NotFoundError as exc:
        raise CloudNotFound(f"{action}: {exc}") from exc
    except firebase_exceptions.FirebaseError as exc:
        hint = _HINTS.get(exc.code)
        raise CloudError(f"{action}: {exc}" + (f" ({hint})" if hint else "")) from exc
    except AttributeError as exc:
        if "private key to sign" not in str(exc):
            raise
        # firebase-admin signs a Cloud Storage URL of the model file for the service.
        raise CloudError(
            f"{action}: the Google credentials cannot sign a Cloud Storage URL, which "
            "firebase-admin needs to send a model file; use a service account key "
            "(GOOGLE_APPLICATION_CREDENTIALS) for this stack"
        ) from exc


class FirebaseMlRegistry(Registry):
    """Firebase ML custom models of one stack; the manifest goes to `bucket`."""

    kind = "firebase_ml"

    def __init__(self, target: CloudTarget, bucket: str) -> None:
        self.target = target
        self.bucket = bucket
        self._objects = ObjectStore(target, bucket)

    def _manifest_name(self, display_name: str) -> str:
        return model_prefix(display_name) + "manifest.json"

    def _find(self, display_name: str) -> Any:
        """The ml.Model with this display name, or None."""
        ml = firebase_ml_module()

        def attempt() -> list[Any]:
            page = ml.list_models(
                list_filter=f"display_name = {display_name}", app=firebase_app(self.target)
            )
            return [m for m in page.iterate_all() if m.display_name == display_name]

        found = retry.call(
            f"listing Firebase ML models named {display_name}", attempt, errors=firebase_errors
        )
        if len(found) > 1:
            raise CloudError(
                f"project {self.target.project} has {len(found)} Firebase ML models named "
                f"{display_name} ({', '.join(m.model_id for m in found)}); delete the extra ones"
            )
        return found[0] if found else None

    def _source(self, spec: PublishedModelSpec) -> str:
        """The gs:// URI Firebase reads the file from (bytes are uploaded beside the manifest)."""
        if spec.model.gcs_uri is not None:
            return spec.model.gcs_uri
        assert spec.model.data is not None
        name = model_prefix(spec.display_name) + "model.tflite"
        self._objects.write(name, spec.model.data, "application/octet-stream")
        return self._objects.uri(name)

    def _format(self, source: str) -> Any:
        ml = firebase_ml_module()
        app = firebase_app(self.target)
        return ml.TFLiteFormat(model_source=ml.TFLiteGCSModelSource(source, app=app))

    def apply(self, spec: PublishedModelSpec, progress: Progress | None = None) -> PublishedModel:
        validate_spec(spec)
        if FIREBASE_DISPLAY_NAME.fullmatch(spec.display_name) is None:
            raise InvalidPublication(
                f"displayName {spec.display_name!r} is not allowed by Firebase ML: start with "
                "a letter; use only ASCII letters, digits and '_' (the Firebase ML REST "
                "reference's rule; storage publications also allow '-')"
            )
        ml = firebase_ml_module()
        app = firebase_app(self.target)
        name = spec.display_name

        def say(message: str) -> None:
            if progress:
                progress(f"[publication {name}] {message}")

        record = self._objects.read_json(self._manifest_name(name)) or {}
        model = self._find(name)
        if model is None:
            model = self._create(ml, app, spec, say)
        else:
            model = self._converge(ml, app, self._unlocked(model, name), spec, record, say)
        if model.published != spec.published:
            change = ml.publish_model if spec.published else ml.unpublish_model
            verb = "publishing" if spec.published else "unpublishing"
            model_id = model.model_id
            model = retry.call(
                f"{verb} Firebase ML model {name}",
                lambda: change(model_id, app=app),
                errors=firebase_errors,
            )
            say(f"{verb.removesuffix('ing')}ed Firebase ML model {model.model_id}")
        size = model.model_format.size_bytes if model.model_format else None
        desired = {
            **manifest(spec, int(size) if size is not None else None),
            "modelId": model.model_id,
            "modelHash": model.model_hash,
        }
        if desired != record:
            self._objects.write_json(self._manifest_name(name), desired)
        return self._published(model, desired)

    def _create(
        self, ml: Any, app: firebase_admin.App, spec: PublishedModelSpec, say: Progress
    ) -> Any:
        """A new model of the spec's file and tags; a file Firebase ML rejects is deleted."""
        name, tags = spec.display_name, registry_tags(spec)
        source = self._source(spec)
        # Not idempotent: before a retry, a model the failed attempt created is adopted.
        model = retry.call(
            f"creating Firebase ML model {name} from {source}",
            lambda: ml.create_model(
                ml.Model(display_name=name, tags=tags, model_format=self._format(source)),
                app=app,
            ),
            recover=lambda: self._find(name),
            errors=firebase_errors,
        )
        model = self._unlocked(model, name)
        if model.validation_error:
            retry.call(
                f"deleting the rejected Firebase ML model {name}",
                lambda: ml.delete_model(model.model_id, app=app),
                errors=firebase_errors,
            )
            raise CloudError(
                f"Firebase ML rejected the model file {source} for {name}: "
                f"{model.validation_error}; nothing was published"
            )
        say(f"created Firebase ML model {model.model_id} ({model.model_hash})")
        return model

    def _converge(
        self,
        ml: Any,
        app: firebase_admin.App,
        model: Any,
        spec: PublishedModelSpec,
        record: Mapping[str, Any],
        say: Progress,
    ) -> Any:
        """The model with the spec's file and tags: updated when either differs."""
        name, tags = spec.display_name, registry_tags(spec)
        # The manifest says which file this tool sent; a modelHash that is the sha256
        # itself (as the emulator computes it) identifies the file without one.
        file_current = model.model_hash is not None and (
            model.model_hash == spec.model.sha256
            or (
                record.get("modelId") == model.model_id
                and record.get("modelHash") == model.model_hash
                and record.get("sha256") == spec.model.sha256
            )
        )
        if file_current and sorted(model.tags or []) == sorted(tags):
            return model
        update = ml.Model.from_dict({"name": _resource_name(model)}, app=app)
        update.display_name = name
        update.tags = tags
        if not file_current:
            source = self._source(spec)
            update.model_format = self._format(source)
        model = retry.call(
            f"updating Firebase ML model {name}",
            lambda: ml.update_model(update, app=app),
            errors=firebase_errors,
        )
        model = self._unlocked(model, name)
        if not file_current and model.validation_error:
            raise CloudError(
                f"Firebase ML rejected the new model file {source} for {name}: "
                f"{model.validation_error}; apps keep getting the previous file"
            )
        say(f"updated Firebase ML model {model.model_id}")
        return model

    def _unlocked(self, model: Any, name: str) -> Any:
        """The model once its operations ended (firebase-admin polls, and retries transient
        errors itself while it does)."""

        def attempt() -> Any:
            model.wait_for_unlocked(WAIT_SECONDS)
            return model

        return retry.call(f"waiting for Firebase ML model {name}", attempt, errors=firebase_errors)

    def read(self, display_name: str) -> PublishedModel | None:
        validate_display_name(display_name)
        model = self._find(display_name)
        if model is None:
            return None
        return self._published(model, self._objects.read_json(self._manifest_name(display_name)))

    def _published(self, model: Any, record: dict[str, Any] | None) -> PublishedModel:
        record = record if isinstance(record, dict) else {}
        ours = record.get("modelId") == model.model_id
        same_file = ours and model.model_hash and record.get("modelHash") == model.model_hash
        size = model.model_format.size_bytes if model.model_format else None
        data = model.as_dict()
        return PublishedModel(
            registry=self.kind,
            name=_resource_name(model),
            display_name=model.display_name,
            sha256=record.get("sha256") if same_file else None,
            model_hash=model.model_hash,
            size_bytes=int(size) if size is not None else None,
            tags=user_tags(model.tags or []),
            published=model.published,
            threshold=parse_threshold_tag(model.tags or []),
            labels=tuple(record.get("labels") or ()) if ours else (),
            version=model.etag or "",
            update_time=data.get("updateTime", ""),
        )

    def delete(self, display_name: str) -> bool:
        validate_display_name(display_name)
        ml = firebase_ml_module()
        model = self._find(display_name)
        if model is not None:
            model = self._unlocked(model, display_name)

            def attempt() -> None:
                with contextlib.suppress(firebase_exceptions.NotFoundError):  # deleted meanwhile
                    ml.delete_model(model.model_id, app=firebase_app(self.target))

            retry.call(
                f"deleting Firebase ML model {display_name}", attempt, errors=firebase_errors
            )
        prefix = model_prefix(display_name)
        self._objects.delete([prefix + "manifest.json", prefix + "model.tflite"])
        return model is not None


def _resource_name(model: Any) -> str:
    name: str = model.as_dict()["name"]  # firebase_admin.ml.Model (untyped)
    return name
