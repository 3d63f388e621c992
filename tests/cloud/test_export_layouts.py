"""The adapters read exports through the layouts the APIs document, whoever wrote them.

Fixture folders in both layouts are written here, by the test (not by the emulator's exports),
into a bucket of the emulator's Cloud Storage:
- Vertex AI ("Export AutoML Edge models"): `model-<MODEL_ID>/<format>/<timestamp>/` with
  `model.tflite`, `edgetpu_model.tflite` or `saved_model.pb`, no label file: the labels are in
  the TF Lite file's metadata;
- AutoML v1 (AutoML Vision Edge's export guide): `model-export/icn/<format>-<display>-<time>/`
  with `model.tflite` or `saved_model.pb`, `dict.txt` and `tflite_metadata.json`.
Each adapter reads each layout (its own first). The emulator's own exports, through each
adapter after a real training, are read in test_training_contract.py.
"""

import json
from dataclasses import dataclass

import pytest

from components.cloud.adapters import training_api
from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.exports import tflite_labels
from components.cloud.storage import ObjectStore
from components.evaluation.tflite import inspect_tflite
from tests.fixtures.emulator import LOCATION, storage_client
from tests.fixtures.tflite import TfliteFile, tflite_model, with_label_metadata

PROJECT = "export-layouts"
BUCKET = f"{PROJECT}-exports"
LABELS = ("daisy", "tulips", "roses")  # output order, not alphabetical
STAMP = "2024-05-06T07:08:09.123Z"


@dataclass(frozen=True)
class Fixture:
    """One export folder as an API documents it, and what reading it must give."""

    layout: str  # vertex | automl_v1
    model_format: str  # the port's name
    folder: str  # gs://…/ of the folder
    model_file: str
    labels: tuple[str, ...] | None
    labels_from: str


def _write(store: ObjectStore, folder: str, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        store.write(f"{folder}/{name}", data)
    return store.uri(f"{folder}/")


@pytest.fixture(scope="module")
def model() -> TfliteFile:
    return tflite_model(5, LABELS)


@pytest.fixture(scope="module")
def fixtures(emulator, model) -> list[Fixture]:
    storage_client(emulator.env, PROJECT).create_bucket(BUCKET)
    store = ObjectStore(_target("vertex"), BUCKET)
    labelled = with_label_metadata(model.data, LABELS)
    saved_model = b"\x08\x01"  # a SavedModel's bytes do not matter to the layout
    dict_txt = "".join(f"{label}\n" for label in LABELS).encode()
    metadata = json.dumps({"labels": list(LABELS), "threshold": None}).encode()
    found = []
    vertex_files = {
        "tflite": ("tflite", "model.tflite", labelled),
        "edgetpu_tflite": ("edgetpu-tflite", "edgetpu_model.tflite", labelled),
        "tf_saved_model": ("tf-saved-model", "saved_model.pb", saved_model),
    }
    for fmt, (vertex_id, name, data) in vertex_files.items():
        folder = _write(store, f"vertex/model-1234567890/{vertex_id}/{STAMP}", {name: data})
        tflite = name.endswith(".tflite")
        found.append(
            Fixture(
                "vertex",
                fmt,
                folder,
                name,
                LABELS if tflite else None,
                "tflite metadata" if tflite else "",
            )
        )
    for fmt in ("tflite", "edgetpu_tflite", "tf_saved_model"):
        name = "saved_model.pb" if fmt == "tf_saved_model" else "model.tflite"
        folder = _write(
            store,
            f"automl/model-export/icn/{fmt}-digits_edge-{STAMP}",
            {
                name: saved_model if fmt == "tf_saved_model" else model.data,
                "dict.txt": dict_txt,
                "tflite_metadata.json": metadata,
            },
        )
        found.append(Fixture("automl_v1", fmt, folder, name, LABELS, "dict.txt"))
    return found


def _target(api: str) -> CloudTarget:
    return CloudTarget(stack="layouts", project=PROJECT, region=LOCATION, api=api, emulator=True)


@pytest.mark.parametrize("api", ["automl_v1", "vertex"])
def test_each_adapter_reads_both_documented_layouts(fixtures, api):
    adapter = training_api(_target(api))
    store = ObjectStore(_target(api), BUCKET)
    for fixture in fixtures:
        exported = adapter.read_export(fixture.folder, fixture.model_format)
        where = f"{api} reading the {fixture.layout} {fixture.model_format} fixture"
        assert exported.directory == fixture.folder, where
        assert exported.model_file == fixture.model_file, where
        assert (exported.labels, exported.labels_from) == (
            fixture.labels,
            fixture.labels_from,
        ), where
        if fixture.model_format == "tf_saved_model":
            assert exported.model_uri == fixture.folder, where
        else:
            assert exported.model_uri == fixture.folder + fixture.model_file, where
            data = store.read(exported.model_uri.removeprefix(f"gs://{BUCKET}/"))
            assert data is not None and inspect_tflite(data).outputs == len(LABELS), where


def test_labels_come_from_the_tflite_metadata_before_the_label_files(emulator, model):
    """A folder with both (an AutoML-style folder whose model carries metadata): the labels
    inside the model win; a Vertex AI folder without metadata has no labels."""
    store = ObjectStore(_target("vertex"), BUCKET)
    both = _write(
        store,
        "mixed/both",
        {
            "model.tflite": with_label_metadata(model.data, ("a", "b", "c")),
            "dict.txt": b"x\ny\nz\n",
        },
    )
    plain = _write(store, "mixed/plain", {"edgetpu_model.tflite": model.data})
    for api in ("automl_v1", "vertex"):
        adapter = training_api(_target(api))
        exported = adapter.read_export(both, "tflite")
        assert (exported.labels, exported.labels_from) == (("a", "b", "c"), "tflite metadata")
        bare = adapter.read_export(plain, "edgetpu_tflite")
        assert (bare.labels, bare.labels_from) == (None, "")


def test_a_folder_without_the_documented_model_file_is_an_error(emulator):
    store = ObjectStore(_target("vertex"), BUCKET)
    folder = _write(store, "broken/only-labels", {"dict.txt": b"a\nb\n"})
    for api, names in (
        ("vertex", "edgetpu_model.tflite or model.tflite"),
        ("automl_v1", "model.tflite or edgetpu_model.tflite"),
    ):
        with pytest.raises(CloudError, match=f"holds no {names} \\(it holds: dict.txt\\)"):
            training_api(_target(api)).read_export(folder, "edgetpu_tflite")


def test_tflite_labels_reads_the_metadata_and_refuses_what_is_not_tflite(model):
    assert tflite_labels(model.data) is None  # converted without metadata
    assert tflite_labels(with_label_metadata(model.data, LABELS, "dict.txt")) == LABELS
    with pytest.raises(ValueError, match="not a TF Lite model"):
        tflite_labels(b"PK\x03\x04 a zip, not a model")
