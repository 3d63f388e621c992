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

import json
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


def tflite_labels(data: bytes) -> tuple[str, ...] | None:
    """The labels a TF Lite model carries in its metadata (the first output's first
    TENSOR_AXIS_LABELS file, one label per line, in the zip appended to the model); None when
    it carries none. ValueError (tflite_metadata.MetadataError) when it cannot be read."""
    from tflite_metadata import read_metadata  # LiteRT's schema: only when a file is read

    metadata = read_metadata(data)
    return None if metadata is None else metadata.labels
