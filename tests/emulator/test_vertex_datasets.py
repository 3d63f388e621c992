"""Vertex AI datasets on the emulator, through the unmodified google-cloud-aiplatform clients.

Schema URIs and names come from the package (`google.cloud.aiplatform.schema`), never copied.
"""

import re

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1, automl_v1
from google.cloud.aiplatform import schema

from tests.fixtures.emulator import LOCATION, automl_client, wait_for
from tests.fixtures.vertex import VertexClients, upload_digits, vertex_clients, write_csv

PROJECT = "vertex-datasets"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
LABELS = ("zero", "one", "two")
SINGLE_LABEL = schema.dataset.ioformat.image.single_label_classification
MULTI_LABEL = schema.dataset.ioformat.image.multi_label_classification


@pytest.fixture(scope="module")
def vertex(emulator) -> VertexClients:
    return vertex_clients(emulator.env)


@pytest.fixture(scope="module")
def rows(emulator) -> list[tuple[str, str, str]]:
    """12 real digit photos per label in the project's bucket: (ML_USE, URI, label)."""
    return upload_digits(emulator.env, PROJECT, f"{PROJECT}-images", 4, LABELS)


def create(
    vertex: VertexClients, display_name: str, labels: dict[str, str] | None = None
) -> aiplatform_v1.Dataset:
    dataset = aiplatform_v1.Dataset(
        display_name=display_name,
        metadata_schema_uri=schema.dataset.metadata.image,
        labels=labels or {},
    )
    return wait_for(vertex.datasets.create_dataset(parent=PARENT, dataset=dataset))


def import_csv(vertex: VertexClients, name: str, uri: str, import_schema: str = SINGLE_LABEL):
    config = aiplatform_v1.ImportDataConfig(
        gcs_source=aiplatform_v1.GcsSource(uris=[uri]), import_schema_uri=import_schema
    )
    return vertex.datasets.import_data(name=name, import_configs=[config])


def listed(vertex: VertexClients, filter_text: str = "", page_size: int = 0) -> list[str]:
    request = aiplatform_v1.ListDatasetsRequest(
        parent=PARENT, filter=filter_text, page_size=page_size
    )
    return [d.display_name for d in vertex.datasets.list_datasets(request=request)]


def test_create_get_list_with_label_filters_and_delete(vertex):
    a = create(vertex, "ds_a", {"edge-labeler-stack": "a", "team": "vision"})
    b = create(vertex, "ds_b", {"edge-labeler-stack": "b", "team": "vision"})
    c = create(vertex, "ds_c", {"edge-labeler-stack": "c"})
    assert re.fullmatch(rf"{PARENT}/datasets/\d+", a.name)
    assert a.metadata_schema_uri == schema.dataset.metadata.image
    assert a.data_item_count == 0 and a.labels["team"] == "vision"
    assert vertex.datasets.get_dataset(name=b.name) == b

    assert listed(vertex) == ["ds_a", "ds_b", "ds_c"]
    assert listed(vertex, 'labels."edge-labeler-stack"="b"') == ["ds_b"]
    assert listed(vertex, "labels.edge-labeler-stack=a") == ["ds_a"]
    assert listed(vertex, 'labels.team="vision" AND displayName="ds_b"') == ["ds_b"]
    assert listed(vertex, "labels.team:*") == ["ds_a", "ds_b"]
    assert listed(vertex, "labels:team") == ["ds_a", "ds_b"]
    assert listed(vertex, "NOT labels.team=vision") == ["ds_c"]
    assert listed(vertex, "-labels.team=vision") == ["ds_c"]
    assert listed(vertex, "display_name != ds_a labels.team = vision") == ["ds_b"]
    assert listed(vertex, f'metadata_schema_uri="{schema.dataset.metadata.image}"') == [
        "ds_a",
        "ds_b",
        "ds_c",
    ]
    assert listed(vertex, page_size=1) == ["ds_a", "ds_b", "ds_c"]  # the pager follows pages
    for bad, why in (
        ("labels.team=vision OR labels.team=x", "OR is not supported"),
        ("color=red", "color is not a field that can be filtered on"),
        ("(labels.team=vision)", "parentheses"),
    ):
        with pytest.raises(exceptions.InvalidArgument, match=re.escape(why)):
            listed(vertex, bad)

    operation = vertex.datasets.delete_dataset(name=c.name)
    wait_for(operation)
    assert isinstance(operation.metadata, aiplatform_v1.DeleteOperationMetadata)
    with pytest.raises(exceptions.NotFound, match=re.escape(c.name)):
        vertex.datasets.get_dataset(name=c.name)
    with pytest.raises(exceptions.NotFound):
        vertex.datasets.delete_dataset(name=c.name)


def test_only_image_datasets_are_emulated(vertex):
    for uri, error in (
        ("", exceptions.InvalidArgument),
        (schema.dataset.metadata.tabular, exceptions.MethodNotImplemented),
        ("gs://elsewhere/schema.yaml", exceptions.InvalidArgument),
    ):
        dataset = aiplatform_v1.Dataset(display_name="x", metadata_schema_uri=uri)
        with pytest.raises(error, match="metadata_schema_uri"):
            vertex.datasets.create_dataset(parent=PARENT, dataset=dataset)


def test_single_label_import_with_vertex_ml_use_spelling(vertex, emulator, rows):
    dataset = create(vertex, "single")
    lines = [f"{ml_use},{uri},{label}" for ml_use, uri, label in rows]
    lines[0] = lines[0].replace("test,", "TEST,", 1)  # ML_USE is case-insensitive
    lines[1] = lines[1].split(",", 1)[1]  # no ML_USE
    lines[2] = "TRAIN," + lines[2].split(",", 1)[1]  # AutoML's spelling: not Vertex AI's
    uri = write_csv(emulator.env, PROJECT, f"gs://{PROJECT}-images/single.csv", lines)
    operation = import_csv(vertex, dataset.name, uri)
    assert isinstance(wait_for(operation), aiplatform_v1.ImportDataResponse)
    failures = operation.metadata.generic_metadata.partial_failures
    assert len(failures) == 1
    assert "line 3" in failures[0].message
    assert "'TRAIN' is neither an ML_USE (TRAINING, VALIDATION, TEST)" in failures[0].message
    after = vertex.datasets.get_dataset(name=dataset.name)
    assert after.data_item_count == len(rows) - 1
    assert emulator.backend.datasets.get(dataset.name).classification_type.value == "MULTICLASS"


def test_multi_label_import_then_single_label_is_refused(vertex, emulator, rows):
    dataset = create(vertex, "multi")
    lines = [
        f"{ml_use},{uri},{label},{LABELS[i % 3]}" for i, (ml_use, uri, label) in enumerate(rows)
    ]
    uri = write_csv(emulator.env, PROJECT, f"gs://{PROJECT}-images/multi.csv", lines)
    wait_for(import_csv(vertex, dataset.name, uri, MULTI_LABEL))
    assert vertex.datasets.get_dataset(name=dataset.name).data_item_count == len(rows)
    assert emulator.backend.datasets.get(dataset.name).classification_type.value == "MULTILABEL"
    with pytest.raises(exceptions.FailedPrecondition, match="one classification type"):
        import_csv(vertex, dataset.name, uri, SINGLE_LABEL)


def test_import_request_errors_name_the_field(vertex):
    dataset = create(vertex, "errors")
    csv_uri = f"gs://{PROJECT}-images/single.csv"
    boxes = schema.dataset.ioformat.image.bounding_box
    cases = [
        (csv_uri, "", exceptions.InvalidArgument, "import_schema_uri; Message: required"),
        (csv_uri, boxes, exceptions.MethodNotImplemented, "is not emulated"),
        (csv_uri, "gs://elsewhere/io.yaml", exceptions.InvalidArgument, "not emulated"),
        (f"gs://{PROJECT}-images/x.jsonl", SINGLE_LABEL, exceptions.MethodNotImplemented, "JSON"),
        (f"gs://{PROJECT}-images/x.txt", SINGLE_LABEL, exceptions.InvalidArgument, ".csv file"),
    ]
    for uri, import_schema, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            import_csv(vertex, dataset.name, uri, import_schema)
    labeled = aiplatform_v1.ImportDataConfig(
        gcs_source=aiplatform_v1.GcsSource(uris=[csv_uri]),
        import_schema_uri=SINGLE_LABEL,
        data_item_labels={"aiplatform.googleapis.com/ml_use": "training"},
    )
    with pytest.raises(exceptions.MethodNotImplemented, match="data_item_labels"):
        vertex.datasets.import_data(name=dataset.name, import_configs=[labeled])
    with pytest.raises(exceptions.InvalidArgument, match="at least one ImportDataConfig"):
        vertex.datasets.import_data(name=dataset.name, import_configs=[])


def test_automl_datasets_are_not_vertex_datasets(vertex, emulator):
    automl = automl_client(emulator.env)
    metadata = automl_v1.ImageClassificationDatasetMetadata(classification_type="MULTICLASS")
    legacy = wait_for(
        automl.create_dataset(
            parent=PARENT,
            dataset=automl_v1.Dataset(
                display_name="legacy", image_classification_dataset_metadata=metadata
            ),
        )
    )
    with pytest.raises(exceptions.NotFound):
        vertex.datasets.get_dataset(name=legacy.name)
    assert "legacy" not in listed(vertex)
