"""Vertex AI datasets on the emulator, through the unmodified google-cloud-aiplatform clients.

Schema URIs and names come from the package (`google.cloud.aiplatform.schema`), never copied.
"""

import json
import re

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1, automl_v1
from google.cloud.aiplatform import schema
from google.longrunning import operations_pb2

from tests.fixtures.emulator import LOCATION, automl_client, wait_for
from tests.fixtures.vertex import VertexClients, upload_digits, vertex_clients, write_csv

PROJECT = "vertex-datasets"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
LABELS = ("zero", "one", "two")
SINGLE_LABEL = schema.dataset.ioformat.image.single_label_classification
MULTI_LABEL = schema.dataset.ioformat.image.multi_label_classification
ML_USE = "aiplatform.googleapis.com/ml_use"


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


def import_csv(
    vertex: VertexClients,
    name: str,
    uri: str,
    import_schema: str = SINGLE_LABEL,
    data_item_labels: dict[str, str] | None = None,
):
    """ImportData of one file (CSV or JSON Lines, by its extension)."""
    config = aiplatform_v1.ImportDataConfig(
        gcs_source=aiplatform_v1.GcsSource(uris=[uri]),
        import_schema_uri=import_schema,
        data_item_labels=data_item_labels or {},
    )
    return vertex.datasets.import_data(name=name, import_configs=[config])


def write_jsonl(env, uri: str, documents: list) -> str:
    """Each document on its own line (a str is written as it is: a broken line)."""
    lines = [d if isinstance(d, str) else json.dumps(d) for d in documents]
    return write_csv(env, PROJECT, uri, lines)


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
        (
            f"gs://{PROJECT}-images/x.txt",
            SINGLE_LABEL,
            exceptions.InvalidArgument,
            "must be a JSON Lines (.jsonl) or CSV (.csv) file",
        ),
    ]
    for uri, import_schema, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            import_csv(vertex, dataset.name, uri, import_schema)
    for labels, message in (
        ({ML_USE: "train"}, "ml_use='train' is not an ML_USE; allowed: training, validation"),
        ({"aiplatform.googleapis.com/other": "x"}, "its only system key is"),
        ({"Team": "x"}, "label Team='x' is invalid"),
    ):
        labeled = aiplatform_v1.ImportDataConfig(
            gcs_source=aiplatform_v1.GcsSource(uris=[csv_uri]),
            import_schema_uri=SINGLE_LABEL,
            data_item_labels=labels,
        )
        with pytest.raises(
            exceptions.InvalidArgument,
            match=re.escape("import_configs[0].data_item_labels; Message: ") + ".*" + message,
        ):
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


# ---- JSON Lines and data item labels ----------------------------------------------------------


def test_json_lines_single_label_import_with_data_item_labels(vertex, emulator, rows):
    dataset = create(vertex, "jsonl_single")
    documents: list = [
        {
            "imageGcsUri": uri,
            "classificationAnnotation": {
                "displayName": label,
                "annotationResourceLabels": {
                    "aiplatform.googleapis.com/annotation_set_name": "displayName"
                },
            },
            "dataItemResourceLabels": {ML_USE: ml_use, "camera": "phone"},
        }
        for ml_use, uri, label in rows[:6]
    ]
    documents[1]["dataItemResourceLabels"] = {}  # the request's ML_USE applies
    documents.append({"imageGcsUri": rows[6][1]})  # an unlabeled image: allowed
    documents += [
        "{not json",
        {"classificationAnnotation": {"displayName": "zero"}},  # no imageGcsUri
        {"imageGcsUri": rows[7][1], "classificationAnnotations": [{"displayName": "one"}]},
        {"imageGcsUri": rows[8][1], "dataItemResourceLabels": {ML_USE: "TRAIN"}},
    ]
    uri = write_jsonl(emulator.env, f"gs://{PROJECT}-images/single.jsonl", documents)
    operation = import_csv(vertex, dataset.name, uri, data_item_labels={ML_USE: "validation"})
    with pytest.raises(exceptions.InvalidArgument, match="4 of 11 rows could not be imported"):
        wait_for(operation)
    failures = [f.message for f in operation.metadata.generic_metadata.partial_failures]
    assert len(failures) == 4
    assert "line 8: not a JSON object" in failures[0]
    assert "line 9: imageGcsUri: None is not a Cloud Storage path" in failures[1]
    assert "classificationAnnotations belongs to the multi-label schema" in failures[2]
    assert "ml_use='TRAIN' is not an ML_USE" in failures[3]
    assert vertex.datasets.get_dataset(name=dataset.name).data_item_count == 0

    good = write_jsonl(emulator.env, f"gs://{PROJECT}-images/good.jsonl", documents[:7])
    wait_for(import_csv(vertex, dataset.name, good, data_item_labels={ML_USE: "validation"}))
    assert vertex.datasets.get_dataset(name=dataset.name).data_item_count == 7
    examples = {e.source_uri: e for e in emulator.backend.datasets.examples(dataset.name)}
    first = examples[rows[0][1]]
    assert first.labels == (rows[0][2],) and first.item_labels == {"camera": "phone"}
    assert (
        first.ml_use.value
        == {"training": "TRAIN", "test": "TEST", "validation": "VALIDATION"}[rows[0][0]]
    )
    assert examples[rows[1][1]].ml_use.value == "VALIDATION"  # from data_item_labels
    assert examples[rows[6][1]].labels == ()


def test_json_lines_multi_label_import(vertex, emulator, rows):
    dataset = create(vertex, "jsonl_multi")
    documents = [
        {
            "imageGcsUri": uri,
            "classificationAnnotations": [
                {"displayName": label},
                {"displayName": "ünïcode label"},  # an AnnotationSpec name: any UTF-8
            ],
            "dataItemResourceLabels": {ML_USE: ml_use},
        }
        for ml_use, uri, label in rows
    ]
    uri = write_jsonl(emulator.env, f"gs://{PROJECT}-images/multi.jsonl", documents)
    wait_for(import_csv(vertex, dataset.name, uri, MULTI_LABEL))
    assert vertex.datasets.get_dataset(name=dataset.name).data_item_count == len(rows)
    core = emulator.backend.datasets.get(dataset.name)
    assert core.classification_type.value == "MULTILABEL"
    assert sorted(s.display_name for s in core.annotation_specs) == sorted(
        [*LABELS, "ünïcode label"]
    )


def test_an_image_imported_again_takes_the_new_ml_use_and_data_item_labels(vertex, emulator, rows):
    dataset = create(vertex, "relabel")
    _, image, label = rows[0]
    first = write_csv(
        emulator.env, PROJECT, f"gs://{PROJECT}-images/r1.csv", [f"test,{image},{label}"]
    )
    wait_for(import_csv(vertex, dataset.name, first, data_item_labels={"round": "one"}))
    again = write_jsonl(
        emulator.env,
        f"gs://{PROJECT}-images/r2.jsonl",
        [{"imageGcsUri": image, "dataItemResourceLabels": {ML_USE: "training", "extra": "x"}}],
    )
    wait_for(import_csv(vertex, dataset.name, again, data_item_labels={"round": "two"}))
    (example,) = emulator.backend.datasets.examples(dataset.name)
    # "if labels with identical key is imported before, the old label value will be overwritten"
    assert example.ml_use.value == "TRAIN"
    assert example.item_labels == {"round": "two", "extra": "x"}
    assert example.labels == (label,)


def test_csv_labels_follow_vertex_ai_rules(vertex, emulator, rows):
    dataset = create(vertex, "csv_labels")
    lines = [f"{ml_use},{uri},{label}" for ml_use, uri, label in rows]
    lines[0] = f"test,{rows[0][1]},7up"  # must start with a letter
    uri = write_csv(emulator.env, PROJECT, f"gs://{PROJECT}-images/labels.csv", lines)
    operation = import_csv(vertex, dataset.name, uri)
    wait_for(operation)
    (failure,) = operation.metadata.generic_metadata.partial_failures
    assert "label '7up' is invalid; a label has 1 to 128 characters: an ASCII letter, then" in (
        failure.message
    )


# ---- display names, ordering, operation names ------------------------------------------------


def test_display_names_are_up_to_128_utf8_characters(vertex):
    name = "数据集 " + "é" * 124  # 128 characters
    assert create(vertex, name).display_name == name
    for bad in (name + "x", ""):
        with pytest.raises(exceptions.InvalidArgument, match=r"dataset\.display_name; Message: "):
            create(vertex, bad)


def test_list_datasets_order_by(vertex):
    names = ["order_b", "order_c", "order_a"]
    for name in names:
        create(vertex, name, {"purpose": "order"})

    def ordered(order_by: str) -> list[str]:
        request = aiplatform_v1.ListDatasetsRequest(
            parent=PARENT, filter="labels.purpose=order", order_by=order_by
        )
        return [d.display_name for d in vertex.datasets.list_datasets(request=request)]

    assert ordered("") == names  # oldest first
    assert ordered("display_name") == sorted(names)
    assert ordered("displayName desc") == sorted(names, reverse=True)
    assert ordered("create_time desc, display_name") == names[::-1]
    with pytest.raises(exceptions.InvalidArgument, match="supported: display_name, create_time"):
        ordered("labels")


def test_operations_are_named_under_their_dataset(vertex, emulator, rows):
    operation = vertex.datasets.create_dataset(
        parent=PARENT,
        dataset=aiplatform_v1.Dataset(
            display_name="ops", metadata_schema_uri=schema.dataset.metadata.image
        ),
    )
    dataset = wait_for(operation)
    assert re.fullmatch(rf"{dataset.name}/operations/\d+", operation.operation.name)
    uri = write_csv(emulator.env, PROJECT, f"gs://{PROJECT}-images/ops.csv", [",".join(rows[0])])
    imported = import_csv(vertex, dataset.name, uri)
    wait_for(imported)
    assert re.fullmatch(rf"{dataset.name}/operations/\d+", imported.operation.name)
    # The reference reads an operation by `{location}/operations/{id}` too.
    op_id = imported.operation.name.rsplit("/", 1)[-1]
    by_location = operations_pb2.GetOperationRequest(name=f"{PARENT}/operations/{op_id}")
    assert vertex.datasets.get_operation(by_location).name == imported.operation.name
    listed = vertex.datasets.list_operations(
        operations_pb2.ListOperationsRequest(name=dataset.name)
    )
    assert {o.name for o in listed.operations} == {
        operation.operation.name,
        imported.operation.name,
    }
    deleted = vertex.datasets.delete_dataset(name=dataset.name)
    assert re.fullmatch(rf"{dataset.name}/operations/\d+", deleted.operation.name)
