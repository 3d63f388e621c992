"""Model export: a trained model's files (TF Lite, Edge TPU, SavedModel) written to Cloud Storage.

The engine exports into a local staging folder (`model_exports/<operation id>/`, removed after
the upload and on every start), then each file is uploaded under the folder the facade names
below the requested prefix, with the names its API gives them (the facade's `folder` and
`files`: AutoML v1 keeps the engine's `model.tflite`, `dict.txt`, `tflite_metadata.json`;
Vertex AI names the Edge TPU model `edgetpu_model.tflite` and writes no label file).
Checkpoint (fault injection, see faults.py): `ExportModel.upload`.
"""

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator.core import exporter
from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.blobs import Blobs, folder_timestamp, output_directory
from emulator.core.errors import (
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
)
from emulator.core.models.records import Model, ModelStore
from emulator.core.names import parse_resource
from emulator.core.operations import Operation, OperationContext, OperationStore

log = logging.getLogger(__name__)

DEFAULT_EXPORT_FORMAT = "tflite"
EXPORT_FORMATS = exporter.EXPORT_FORMATS
# Formats the API offers for mobile image classification models that are not emulated.
UNEMULATED_EXPORT_FORMATS = ("tf_js", "docker")
EXPORT_UPLOAD_STEP = "ExportModel.upload"

# Where an export goes under the requested prefix: (model, format, timestamp) → folder path.
ExportFolder = Callable[[Model, str, str], str]
# An exported file's object name in that folder: (format, the engine's file name, e.g.
# `model.tflite` or `saved_model/saved_model.pb`) → its name, or None: not uploaded.
ExportFiles = Callable[[str, str], str | None]


def engine_files(model_format: str, name: str) -> str | None:
    """The engine's files, SavedModel files at the folder's top (AutoML v1's layout)."""
    return name.removeprefix(f"{exporter.SAVED_MODEL_DIR}/")


@dataclass(frozen=True)
class ExportFields:
    """Where an export request holds its inputs (for `Field: …` in error messages)."""

    model_format: str
    output_uri_prefix: str


class ModelExports:
    """Starts model exports; each runs in a background `export_model` operation."""

    def __init__(
        self, models: ModelStore, blobs: Blobs, operations: OperationStore, staging: Path
    ) -> None:
        self._models = models
        self._blobs = blobs
        self._operations = operations
        self._staging = staging

    def load(self) -> None:
        """Removes exports staged by an emulator that stopped while exporting."""
        shutil.rmtree(self._staging, ignore_errors=True)

    def start_export(
        self,
        name: str,
        model_format: str,
        output_uri_prefix: str,
        *,
        folder: ExportFolder,
        fields: ExportFields,
        api: str,
        id_prefix: str = "",
        files: ExportFiles = engine_files,
        parent: str | None = None,
        supported: tuple[str, ...] = EXPORT_FORMATS,
    ) -> Operation:
        """Exports to `<prefix>/<folder(model, format, timestamp)>/` (the facade's layout).

        `parent`: where the operation is named (default: the model's location, AutoML's).
        `supported`: the format names to list when one cannot be produced (the API's names).
        """
        model = self._models.record(name).model
        model_format = model_format or DEFAULT_EXPORT_FORMAT
        if model.model_type not in MOBILE_MODEL_TYPES:
            raise FailedPrecondition(
                f"Model {name} has model_type {model.model_type}, which cannot be exported; "
                f"exportable model types: {', '.join(MOBILE_MODEL_TYPES)}"
            )
        if model_format in UNEMULATED_EXPORT_FORMATS:
            raise FailedPrecondition(
                f"Field: {fields.model_format}; Message: {model_format} exports cannot be made "
                f"by the emulator (it has no {model_format} converter); it exports "
                f"{', '.join(supported)}"
            )
        if model_format not in EXPORT_FORMATS:
            raise InvalidArgument(
                f"Field: {fields.model_format}; Message: {model_format!r} is not a format "
                f"of {model.model_type} image classification models; allowed: "
                f"{', '.join(EXPORT_FORMATS)}"
            )
        subfolder = folder(model, model_format, folder_timestamp())
        directory = output_directory(output_uri_prefix, subfolder, fields.output_uri_prefix)
        return self._operations.start(
            parent=parent or str(parse_resource(name, "models", "Model").parent),
            api=api,
            kind="export_model",
            resources=[name],
            work=lambda ctx: self._export(ctx, name, model_format, directory, files),
            details={"gcs_output_directory": directory, "model_format": model_format},
            id_prefix=id_prefix,
        )

    def _export(
        self,
        ctx: OperationContext,
        name: str,
        model_format: str,
        directory: str,
        files: ExportFiles,
    ) -> dict:
        record = self._models.record(name)
        staging = self._staging / ctx.operation.id
        try:
            try:
                result = exporter.export_model(
                    self._models.model_dir(record.model.id), model_format, staging / "export"
                )
            except exporter.ExportError as exc:
                raise Internal(f"Export of {name} as {model_format} failed: {exc}") from None
            ctx.checkpoint(EXPORT_UPLOAD_STEP)
            uploads = [
                (exported, relative)
                for exported in result.files
                if (relative := files(model_format, exported.name)) is not None
            ]
            for n, (exported, relative) in enumerate(uploads, start=1):
                ctx.raise_if_stopping()
                try:
                    self._blobs.write(
                        f"{directory}/{relative}",
                        exported.path.read_bytes(),
                        _content_type(relative),
                    )
                except NotFound as exc:
                    raise NotFound(f"Cannot export {name}: {exc.message}") from None
                ctx.progress(100 * n // len(uploads))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("model %s exported as %s to %s", name, model_format, directory)
        return {}


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".txt"):
        return "text/plain"
    return "application/octet-stream"
