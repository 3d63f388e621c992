"""TF Lite model metadata: what ML Kit's custom image labeler reads from a `.tflite` file.

A standalone package (it imports neither `components` nor `emulator`): the emulator's exporter
embeds labels and normalization as AutoML / Vertex AI exports carry them, and the project's
export step writes the full metadata (name, version = training fingerprint, the gate's
threshold) into the file it records; both use this one writer.

A model carries a `ModelMetadata` flatbuffer (schema `metadata_schema.fbs` of TensorFlow Lite
Support, file identifier `M001`) in one of its buffers, named `TFLITE_METADATA` in the model's
`metadata` list, and its associated files (the labels) in a zip archive appended to the
flatbuffer: the file stays a valid TF Lite model and is also a zip. ML Kit takes from it the
input normalization, the labels (an associated file of type TENSOR_AXIS_LABELS on the output
tensor) and, when the app sets no confidence threshold, the threshold of the output's
ScoreThresholdingOptions.

The package that writes this (`tflite-support`, last released 2023) needs protobuf < 4; this
project pins protobuf 6, so the flatbuffer is written here from the published schema, with the
`flatbuffers` runtime, and the model itself is rebuilt with LiteRT's generated TF Lite schema
(`ai_edge_litert.schema_py_generated`). Only the schema 1.0 fields written below are used, so
`min_parser_version` is 1.0.0.

Exported models take RGB pixels 0–255 and normalize inside the graph (DESIGN.md), so the
input's NormalizationOptions are mean 0, std 1: the app passes pixels unchanged.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flatbuffers
from flatbuffers import number_types as fb_types
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"  # the TF Lite `Metadata.name` ML Kit looks for
MODEL_IDENTIFIER = b"TFL3"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # associated files' time stamp
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "dict.txt"
# Exported models normalize inside the graph: pixels go in as they are (0–255).
PIXELS_AS_THEY_ARE = ((0.0,), (1.0,))

# Enum values and union member indices of metadata_schema.fbs.
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType
_RGB = 1  # ColorSpaceType
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2  # ContentProperties
_NORMALIZATION, _SCORE_THRESHOLDING = 1, 3  # ProcessUnitOptions


class MetadataError(ValueError):
    """A model whose metadata cannot be written or read; the message says why."""


@dataclass(frozen=True)
class ModelMetadata:
    """What a model's TF Lite metadata says (None: not present)."""

    name: str | None
    description: str | None
    version: str | None
    min_parser_version: str | None
    input_name: str | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    color_space: str | None
    output_name: str | None
    labels_file: str | None  # the output's TENSOR_AXIS_LABELS file
    labels: tuple[str, ...] | None  # read from that file in the appended zip
    threshold: float | None  # the output's ScoreThresholdingOptions
    associated_files: tuple[str, ...]  # names in the appended zip


# -- writing ------------------------------------------------------------------------------


def with_metadata(
    model: bytes,
    *,
    name: str,
    labels: Sequence[str],
    version: str | None = None,
    description: str | None = None,
    threshold: float | None = None,
    normalization: tuple[tuple[float, ...], tuple[float, ...]] = PIXELS_AS_THEY_ARE,
    labels_file: str = LABELS_FILE,
) -> bytes:
    """`model` (a .tflite, with or without metadata) carrying this metadata and labels file.

    Earlier metadata and associated files are replaced; the graph and weights are kept.
    """
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise MetadataError(f"threshold {threshold}: a score from 0 to 1 is allowed")
    metadata = _metadata_flatbuffer(
        name, labels, version, description, threshold, normalization, labels_file
    )
    packed = _model_with_metadata_buffer(_flatbuffer_part(model), metadata)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_entry(labels_file), "".join(f"{label}\n" for label in labels))
    return _append_zip(packed, archive.getvalue())


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry stamped with a fixed time (the format's earliest), not the clock's: the
    same model and metadata always give the same bytes, so the same sha256."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16  # a regular file, rw-r--r--
    return info


def _metadata_flatbuffer(
    name: str,
    labels: Sequence[str],
    version: str | None,
    description: str | None,
    threshold: float | None,
    normalization: tuple[tuple[float, ...], tuple[float, ...]],
    labels_file: str,
) -> bytes:
    # Long: a flatbuffer is built bottom-up in one builder: every table's children before it.
    b = flatbuffers.Builder(1024)
    w = _Writer(b)
    # Input: an RGB image, normalized with mean/std (identity for pixels 0–255).
    image_properties = w.table([(0, "byte", _RGB)])
    input_content = w.table([(0, "byte", _IMAGE_PROPERTIES), (1, "offset", image_properties)])
    mean, std = normalization
    norm = w.table([(0, "offset", w.floats(mean)), (1, "offset", w.floats(std))])
    input_unit = w.table([(0, "byte", _NORMALIZATION), (1, "offset", norm)])
    input_stats = w.table([(0, "offset", w.floats([255.0])), (1, "offset", w.floats([0.0]))])
    input_tensor = w.table(
        [
            (0, "offset", b.CreateString("image")),
            (1, "offset", b.CreateString("RGB pixels 0-255, any size; resized to the input")),
            (3, "offset", input_content),
            (4, "offset", w.offsets([input_unit])),
            (5, "offset", input_stats),
        ]
    )
    # Output: one probability per label, labels in an associated file.
    labels_entry = w.table(
        [
            (0, "offset", b.CreateString(labels_file)),
            (1, "offset", b.CreateString("Labels in the order of the output scores")),
            (2, "byte", _TENSOR_AXIS_LABELS),
        ]
    )
    feature = w.table([])
    output_content = w.table([(0, "byte", _FEATURE_PROPERTIES), (1, "offset", feature)])
    output_units = []
    if threshold is not None:
        thresholding = w.table([(0, "float", float(threshold))])
        output_units.append(
            w.table([(0, "byte", _SCORE_THRESHOLDING), (1, "offset", thresholding)])
        )
    output_stats = w.table([(0, "offset", w.floats([1.0])), (1, "offset", w.floats([0.0]))])
    output_fields = [
        (0, "offset", b.CreateString("probability")),
        (1, "offset", b.CreateString(f"Scores of the {len(labels)} labels")),
        (3, "offset", output_content),
        (5, "offset", output_stats),
        (6, "offset", w.offsets([labels_entry])),
    ]
    if output_units:
        output_fields.append((4, "offset", w.offsets(output_units)))
    output_tensor = w.table(output_fields)
    subgraph = w.table(
        [
            (2, "offset", w.offsets([input_tensor])),
            (3, "offset", w.offsets([output_tensor])),
        ]
    )
    fields: list[tuple[int, str, Any]] = [(0, "offset", b.CreateString(name))]
    if description is not None:
        fields.append((1, "offset", b.CreateString(description)))
    if version is not None:
        fields.append((2, "offset", b.CreateString(version)))
    fields += [
        (3, "offset", w.offsets([subgraph])),
        (7, "offset", b.CreateString(MIN_PARSER_VERSION)),
    ]
    b.Finish(w.table(fields), file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


class _Writer:
    """Tables and vectors of a flatbuffer being built (children before their parents)."""

    def __init__(self, builder: flatbuffers.Builder) -> None:
        self.b = builder

    def table(self, fields: Sequence[tuple[int, str, Any]]) -> int:
        """A table of (slot, kind, value) fields; kind is byte | float | offset."""
        self.b.StartObject(max((slot for slot, _, _ in fields), default=-1) + 1)
        for slot, kind, value in fields:
            if kind == "byte":
                self.b.PrependInt8Slot(slot, value, 0)
            elif kind == "float":
                self.b.PrependFloat32Slot(slot, value, -1.0)  # never equal: always written
            else:
                self.b.PrependUOffsetTRelativeSlot(slot, value, 0)
        return int(self.b.EndObject())

    def floats(self, values: Sequence[float]) -> int:
        self.b.StartVector(4, len(values), 4)
        for value in reversed(values):
            self.b.PrependFloat32(float(value))
        return int(self.b.EndVector())

    def offsets(self, tables: Sequence[int]) -> int:
        self.b.StartVector(4, len(tables), 4)
        for table in reversed(tables):
            self.b.PrependUOffsetTRelative(table)
        return int(self.b.EndVector())


def _model_with_metadata_buffer(model: bytes, metadata: bytes) -> bytes:
    """The TF Lite flatbuffer rebuilt with `metadata` as its TFLITE_METADATA buffer."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl

    if not tfl.Model.ModelBufferHasIdentifier(model, 0):
        raise MetadataError("not a TF Lite model (no TFL3 file identifier)")
    graph = tfl.ModelT.InitFromPackedBuf(bytearray(model), 0)
    graph.buffers = list(graph.buffers or [])
    graph.metadata = list(graph.metadata or [])
    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    entry = next((m for m in graph.metadata if m.name == METADATA_NAME.encode()), None)
    if entry is None:  # a new buffer; else the earlier metadata's buffer is overwritten
        entry = tfl.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(graph.buffers)
        graph.buffers.append(buffer)
        graph.metadata.append(entry)
    else:
        graph.buffers[entry.buffer] = buffer
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(graph.Pack(builder), file_identifier=MODEL_IDENTIFIER)
    return bytes(builder.Output())


def _flatbuffer_part(model: bytes) -> bytes:
    """The model without an appended zip of associated files."""
    start = _zip_start(model)
    return model if start is None else model[:start]


def _zip_start(data: bytes) -> int | None:
    """Where an appended zip archive starts (its first local header), or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            offsets = [info.header_offset for info in zf.infolist()]
    except zipfile.BadZipFile:
        return None
    return min(offsets) if offsets and min(offsets) > 0 else None


def _append_zip(model: bytes, archive: bytes) -> bytes:
    """`model` followed by the zip's entries, at offsets counted from the model's start (so
    the whole file reads as a zip, as ML Kit reads it)."""
    out = io.BytesIO()
    out.write(model)
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "a") as zf:
        for info in source.infolist():
            zf.writestr(info, source.read(info.filename))
    return out.getvalue()


# -- reading ------------------------------------------------------------------------------


def read_metadata(model: bytes) -> ModelMetadata | None:
    """The model's TF Lite metadata, or None when it has none; MetadataError when broken."""
    try:
        data = _metadata_buffer(model)
        if data is None:
            return None
        if not flatbuffers.util.BufferHasIdentifier(data, 0, METADATA_IDENTIFIER):
            raise MetadataError(
                f"{METADATA_NAME} is not a metadata flatbuffer (no M001 identifier)"
            )
        return _parse(data, _associated_files(model))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise MetadataError(f"its TF Lite metadata cannot be read ({exc})") from None


def _metadata_buffer(model: bytes) -> bytes | None:
    """The TFLITE_METADATA buffer's bytes (None: the model names none)."""
    from ai_edge_litert import schema_py_generated as tfl

    if not tfl.Model.ModelBufferHasIdentifier(model, 0):
        raise MetadataError("not a TF Lite model (no TFL3 file identifier)")
    graph = tfl.Model.GetRootAs(model, 0)
    for i in range(graph.MetadataLength()):
        entry = graph.Metadata(i)
        if entry is None or entry.Name() != METADATA_NAME.encode():
            continue
        if entry.Buffer() >= graph.BuffersLength():
            raise MetadataError(f"{METADATA_NAME} names buffer {entry.Buffer()}: not there")
        buffer = graph.Buffers(entry.Buffer())
        if buffer.Offset() > 1:  # a large model keeps buffers after the flatbuffer
            return model[buffer.Offset() : buffer.Offset() + buffer.Size()]
        return buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
    return None


def _associated_files(model: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as zf:
            return {info.filename: zf.read(info) for info in zf.infolist()}
    except zipfile.BadZipFile:
        return {}


class _Reader:
    """One table of a flatbuffer, read by field slot."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.tab = Table(bytearray(buf), pos)

    @classmethod
    def root(cls, buf: bytes) -> _Reader:
        return cls(buf, flatbuffers.encode.Get(fb_types.UOffsetTFlags.packer_type, buf, 0))

    def _offset(self, slot: int) -> int:
        return int(self.tab.Offset(4 + 2 * slot))

    def string(self, slot: int) -> str | None:
        o = self._offset(slot)
        return self.tab.String(o + self.tab.Pos).decode() if o else None

    def scalar(self, slot: int, flags: Any, default: Any) -> Any:
        o = self._offset(slot)
        return self.tab.Get(flags, o + self.tab.Pos) if o else default

    def table(self, slot: int) -> _Reader | None:
        o = self._offset(slot)
        return _Reader(self.tab.Bytes, self.tab.Indirect(o + self.tab.Pos)) if o else None

    def tables(self, slot: int) -> list[_Reader]:
        o = self._offset(slot)
        if not o:
            return []
        start = self.tab.Vector(o)
        return [
            _Reader(self.tab.Bytes, self.tab.Indirect(start + 4 * i))
            for i in range(self.tab.VectorLen(o))
        ]

    def floats(self, slot: int) -> tuple[float, ...] | None:
        o = self._offset(slot)
        if not o:
            return None
        start = self.tab.Vector(o)
        get: Callable[[Any, int], Any] = self.tab.Get
        return tuple(
            float(get(fb_types.Float32Flags, start + 4 * i)) for i in range(self.tab.VectorLen(o))
        )


def _parse(data: bytes, files: dict[str, bytes]) -> ModelMetadata:
    root = _Reader.root(data)
    subgraphs = root.tables(3)
    inputs = subgraphs[0].tables(2) if subgraphs else []
    outputs = subgraphs[0].tables(3) if subgraphs else []
    image, scores = (inputs[0] if inputs else None), (outputs[0] if outputs else None)
    mean = std = color = None
    if image is not None:
        for unit in image.tables(4):
            if unit.scalar(0, fb_types.Uint8Flags, 0) == _NORMALIZATION:
                options = unit.table(1)
                if options is not None:
                    mean, std = options.floats(0), options.floats(1)
        content = image.table(3)
        if content is not None and content.scalar(0, fb_types.Uint8Flags, 0) == _IMAGE_PROPERTIES:
            properties = content.table(1)
            space = properties.scalar(0, fb_types.Int8Flags, 0) if properties else 0
            color = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}.get(space, str(space))
    labels_file = threshold = labels = None
    if scores is not None:
        axis_labels = [
            entry.string(0)
            for entry in scores.tables(6)
            if entry.scalar(2, fb_types.Int8Flags, 0) == _TENSOR_AXIS_LABELS
        ]
        labels_file = axis_labels[0] if axis_labels else None
        for unit in scores.tables(4):
            if unit.scalar(0, fb_types.Uint8Flags, 0) == _SCORE_THRESHOLDING:
                options = unit.table(1)
                if options is not None:
                    value = float(options.scalar(0, fb_types.Float32Flags, 0.0))
                    threshold = float(f"{value:.7g}")  # stored as float32
    if labels_file is not None:
        if labels_file not in files:
            packed = ", ".join(files) or "none"
            raise MetadataError(
                f"its metadata names the labels file {labels_file}, which is not packed in the "
                f"model (packed files: {packed})"
            )
        try:
            text = files[labels_file].decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MetadataError(f"its labels file {labels_file} is not UTF-8 ({exc})") from None
        labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    return ModelMetadata(
        name=root.string(0),
        description=root.string(1),
        version=root.string(2),
        min_parser_version=root.string(7),
        input_name=image.string(0) if image else None,
        mean=mean,
        std=std,
        color_space=color,
        output_name=scores.string(0) if scores else None,
        labels_file=labels_file,
        labels=labels,
        threshold=threshold,
        associated_files=tuple(files),
    )
