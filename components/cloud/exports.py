"""An export folder read through the layouts the training APIs document.

Vertex AI ("Export AutoML Edge models"): `gs://BUCKET/model-MODEL_ID/EXPORT_FORMAT/TIMESTAMP/`
holding `model.tflite` (tflite), `edgetpu_model.tflite` (edgetpu-tflite) or `saved_model.pb`
(tf-saved-model); no label file: "This information is now included in the `.tflite` file
itself" (TF Lite model metadata: a label file packed into the model).
AutoML v1 (AutoML Vision Edge's export guide): `model-export/icn/<format>-<display>-<time>/`
holding `model.tflite` (both TF Lite formats) or `saved_model.pb`, with `dict.txt` (one label
per line, in output order) and `tflite_metadata.json`.

The folder is the one the export operation names; the adapters look for their API's file names
first and the other API's next, so either layout reads. Labels come from the TF Lite metadata
when the model carries it, else from `dict.txt`, else from `tflite_metadata.json`'s `labels`
(the emulator's AutoML layout); an export with none of them has no labels here (None).
"""

import io
import json
import struct
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from components.cloud.errors import CloudError

# Each API's model file names per export format (the port's format names).
VERTEX_FILES: Mapping[str, str] = {
    "tflite": "model.tflite",
    "edgetpu_tflite": "edgetpu_model.tflite",
    "tf_saved_model": "saved_model.pb",
}
AUTOML_FILES: Mapping[str, str] = {
    "tflite": "model.tflite",
    "edgetpu_tflite": "model.tflite",
    "tf_saved_model": "saved_model.pb",
}
LABELS_FILE = "dict.txt"
METADATA_FILE = "tflite_metadata.json"


@dataclass(frozen=True)
class ExportedModel:
    """What an export folder holds for an app."""

    model_format: str  # tflite | edgetpu_tflite | tf_saved_model
    directory: str  # gs://bucket/folder/ (with the slash)
    model_uri: str  # the model file (tf_saved_model: the folder itself)
    model_file: str  # its name in the folder (saved_model.pb for tf_saved_model)
    labels: tuple[str, ...] | None  # output order; None when the export names none
    labels_from: str  # "tflite metadata", "dict.txt", "tflite_metadata.json" or ""


def read_export(
    directory: str,
    model_format: str,
    names: set[str],
    read: Callable[[str], bytes | None],
    layouts: Sequence[Mapping[str, str]],
) -> ExportedModel:
    """The model file and labels of an export folder.

    `names`: the folder's file names (relative); `read(name)`: a file's bytes; `layouts`: the
    file-name tables to try, in order. CloudError when no layout's model file is there.
    """
    folder = directory.rstrip("/") + "/"
    candidates = [layout[model_format] for layout in layouts if model_format in layout]
    if not candidates:
        raise CloudError(f"{model_format!r} is not an export format read here")
    wanted = list(dict.fromkeys(candidates))
    model_file = next((name for name in wanted if name in names), None)
    if model_file is None:
        raise CloudError(
            f"the {model_format} export in {folder} holds no {' or '.join(wanted)} "
            f"(it holds: {', '.join(sorted(names)) or 'nothing'})"
        )
    labels: tuple[str, ...] | None = None
    labels_from = ""
    if model_file.endswith(".tflite"):
        data = read(model_file)
        if data is None:
            raise CloudError(f"{folder}{model_file} disappeared while it was read")
        try:
            labels = tflite_labels(data)
        except ValueError as exc:
            raise CloudError(f"{folder}{model_file}: {exc}") from None
        labels_from = "tflite metadata" if labels is not None else ""
    if labels is None and LABELS_FILE in names:
        text = (read(LABELS_FILE) or b"").decode("utf-8-sig")
        labels = tuple(line.strip() for line in text.splitlines() if line.strip())
        labels_from = LABELS_FILE
    if labels is None and METADATA_FILE in names:
        document = json.loads(read(METADATA_FILE) or b"{}")
        if isinstance(document, dict) and isinstance(document.get("labels"), list):
            labels = tuple(str(label) for label in document["labels"])
            labels_from = METADATA_FILE
    model_uri = folder if model_format == "tf_saved_model" else folder + model_file
    return ExportedModel(model_format, folder, model_uri, model_file, labels, labels_from)


# ---- labels inside a TF Lite file (its model metadata) -----------------------------------------

# TF Lite's schema (schema.fbs, file identifier TFL3): Model.buffers is field 4, Model.metadata
# field 6; Metadata {name, buffer}; Buffer {data, offset, size}. The metadata schema
# (metadata_schema.fbs, identifier M001): ModelMetadata.subgraph_metadata is field 3,
# SubGraphMetadata.output_tensor_metadata field 3, TensorMetadata.associated_files field 6,
# AssociatedFile {name, description, type, locale}, type TENSOR_AXIS_LABELS = 2. The files
# themselves are a zip archive appended to the model.
_METADATA_NAME = "TFLITE_METADATA"
_TENSOR_AXIS_LABELS = 2


class _Flatbuffer:
    """Just enough of the flatbuffers wire format to read tables, vectors and strings."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _u32(self, position: int) -> int:
        value: int = struct.unpack_from("<I", self.data, position)[0]
        return value

    def root(self) -> int:
        return self._u32(0)

    def identifier(self) -> bytes:
        return self.data[4:8]

    def field(self, table: int, index: int) -> int | None:
        """The position of a table's field (None when it is absent: its default)."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        slot = 4 + 2 * index
        if slot >= struct.unpack_from("<H", self.data, vtable)[0]:
            return None
        offset: int = struct.unpack_from("<H", self.data, vtable + slot)[0]
        return table + offset if offset else None

    def indirect(self, position: int) -> int:
        return position + self._u32(position)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start, length) of a vector field ((0, 0) when absent)."""
        position = self.field(table, index)
        if position is None:
            return 0, 0
        vector = self.indirect(position)
        return vector + 4, self._u32(vector)

    def tables(self, table: int, index: int) -> list[int]:
        start, length = self.vector(table, index)
        return [self.indirect(start + 4 * i) for i in range(length)]

    def string(self, table: int, index: int) -> str:
        start, length = self.vector(table, index)
        return self.data[start : start + length].decode("utf-8")

    def scalar(self, table: int, index: int, fmt: str) -> int:
        position = self.field(table, index)
        if position is None:
            return 0
        value: int = struct.unpack_from(fmt, self.data, position)[0]
        return value


def _metadata_buffer(data: bytes) -> bytes | None:
    """The TFLITE_METADATA buffer of a TF Lite model (None: the model has no metadata)."""
    model = _Flatbuffer(data)
    if model.identifier() != b"TFL3":
        raise ValueError("not a TF Lite flatbuffer (no TFL3 identifier)")
    root = model.root()
    buffers = model.tables(root, 4)
    for entry in model.tables(root, 6):
        if model.string(entry, 0) != _METADATA_NAME:
            continue
        buffer = buffers[model.scalar(entry, 1, "<I")]
        start, length = model.vector(buffer, 0)
        if length:
            return data[start : start + length]
        offset, size = model.scalar(buffer, 1, "<Q"), model.scalar(buffer, 2, "<Q")
        return data[offset : offset + size] if size else None
    return None


def tflite_labels(data: bytes) -> tuple[str, ...] | None:
    """The labels a TF Lite model carries in its metadata (the first output's first
    TENSOR_AXIS_LABELS file, one label per line); None when it carries none.

    ValueError when the model or its metadata cannot be read.
    """
    try:
        metadata = _metadata_buffer(data)
        if metadata is None:
            return None
        meta = _Flatbuffer(metadata)
        if meta.identifier() != b"M001":
            raise ValueError("its TFLITE_METADATA is not TF Lite model metadata (no M001)")
        names = []
        for subgraph in meta.tables(meta.root(), 3)[:1]:
            for tensor in meta.tables(subgraph, 3)[:1]:
                for associated in meta.tables(tensor, 6):
                    if meta.scalar(associated, 2, "<b") == _TENSOR_AXIS_LABELS:
                        names.append(meta.string(associated, 0))
        if not names:
            return None
        with zipfile.ZipFile(io.BytesIO(data)) as packed:
            text = packed.read(names[0]).decode("utf-8-sig")
    except (struct.error, IndexError, UnicodeDecodeError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"its TF Lite metadata cannot be read ({exc})") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())
