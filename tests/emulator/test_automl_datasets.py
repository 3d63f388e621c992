"""AutoML v1 datasets on the emulator, through the unmodified google-cloud-automl client."""

import hashlib
import io
import re
import time
import uuid
from dataclasses import dataclass

import pytest
from google.api_core import exceptions
from google.cloud import automl_v1
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2, empty_pb2, field_mask_pb2
from PIL import Image

from emulator.core.import_csv import MlUse, assign_split
from tests.fixtures.digits import DigitImage, digit_images
from tests.fixtures.emulator import (
    PARENT,
    admin,
    automl_client,
    create_dataset,
    operations_client,
    start_import,
    storage_client,
    wait_for,
    wait_until_held,
)

LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ML_USES = ("TRAIN", "VALIDATION", "TEST", "UNASSIGNED")


@dataclass(frozen=True)
class Digits:
    bucket: str
    images: tuple[DigitImage, ...]

    def uri(self, image: DigitImage) -> str:
        return f"gs://{self.bucket}/digits/{image.label}/{image.index}.{image.extension}"


@pytest.fixture(scope="module")
def automl(emulator):
    return automl_client(emulator.env)


@pytest.fixture(scope="module")
def digits(emulator) -> Digits:
    """120 real handwritten digits (12 per label, PNG and JPEG) uploaded with the GCS client."""
    bucket = storage_client(emulator.env).create_bucket(f"digits-{uuid.uuid4().hex[:10]}")
    result = Digits(bucket.name, digit_images(12))
    for image in result.images:
        bucket.blob(result.uri(image).split("/", 3)[3]).upload_from_string(
            image.data, content_type=f"image/{image.extension}"
        )
    return result


@pytest.fixture(scope="module")
def bad_files(emulator, digits) -> dict[str, str]:
    """Objects the import must refuse: a text file named .jpg and a 31 MB (valid) PNG."""
    bucket = storage_client(emulator.env).bucket(digits.bucket)
    bucket.blob("bad/notes.jpg").upload_from_string(b"these are notes, not a photo\n")
    png = digits.images[1].data
    assert png.startswith(b"\x89PNG")
    big = png + b"\x00" * (31 * 1024 * 1024 - len(png))  # trailing bytes after IEND
    Image.open(io.BytesIO(big)).load()  # still a decodable PNG: only its size is wrong
    bucket.blob("bad/huge.png").upload_from_string(big, content_type="image/png")
    return {
        "text": f"gs://{digits.bucket}/bad/notes.jpg",
        "huge": f"gs://{digits.bucket}/bad/huge.png",
    }


def upload_csv(env, bucket: str, lines: list[str]) -> str:
    name = f"csv/{uuid.uuid4().hex[:8]}.csv"
    storage_client(env).bucket(bucket).blob(name).upload_from_string("\n".join(lines) + "\n")
    return f"gs://{bucket}/{name}"


def export_rows(env, client, dataset_name: str, bucket: str) -> list[list[str]]:
    destination = automl_v1.GcsDestination(output_uri_prefix=f"gs://{bucket}/exports")
    op = client.export_data(
        name=dataset_name, output_config=automl_v1.OutputConfig(gcs_destination=destination)
    )
    wait_for(op)
    directory = op.metadata.export_data_details.output_info.gcs_output_directory
    assert directory.startswith(f"gs://{bucket}/exports/export_data-")
    _, _, path = directory.partition(f"gs://{bucket}/")
    blob = storage_client(env).bucket(bucket).blob(f"{path}/image_classification_1.csv")
    return [line.split(",") for line in blob.download_as_text().splitlines()]


def spec_counts(env, client, dataset_name: str) -> dict[str, int]:
    """Labels and per-label counts, each read back with the official get_annotation_spec."""
    status, body = admin(env, "GET", f"/emulator/v1/{dataset_name}/annotationSpecs")
    assert status == 200
    specs = [client.get_annotation_spec(name=s["name"]) for s in body["annotationSpecs"]]
    return {spec.display_name: spec.example_count for spec in specs}


# ---- acceptance: a real import ----------------------------------------------------------------


def test_import_of_120_real_images_with_all_four_ml_uses(emulator, automl, digits):
    env = emulator.env
    assert len(digits.images) >= 100
    assert {image.format for image in digits.images} == {"JPEG", "PNG"}
    given = {}
    lines = []
    for i, image in enumerate(digits.images):
        use = ML_USES[i % 4]
        given[digits.uri(image)] = (use, image)
        lines.append(f"{use},{digits.uri(image)},{image.label}")
    csv_uri = upload_csv(env, digits.bucket, lines)
    dataset = create_dataset(automl, "digits_all_uses")
    assert dataset.example_count == 0

    op = start_import(automl, dataset.name, csv_uri)
    assert op.operation.name.startswith(f"{PARENT}/operations/ICN")
    assert wait_for(op) == empty_pb2.Empty()
    metadata = op.metadata
    assert "import_data_details" in metadata
    assert metadata.progress_percent == 100
    assert list(metadata.partial_failures) == []
    assert metadata.create_time <= metadata.update_time

    assert automl.get_dataset(name=dataset.name).example_count == 120
    assert spec_counts(env, automl, dataset.name) == dict.fromkeys(LABELS, 12)

    rows = export_rows(env, automl, dataset.name, digits.bucket)
    assert len(rows) == 120
    for use, uri, label in rows:
        wanted_use, image = given[uri]
        assert label == image.label
        if wanted_use == "UNASSIGNED":  # split 80/10/10 by content hash: stable across runs
            assert use == assign_split(hashlib.sha256(image.data).hexdigest()).value
        else:
            assert use == wanted_use


def test_unassigned_split_is_80_10_10_and_deterministic():
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20_000)]
    splits = [assign_split(d) for d in digests]
    assert splits == [assign_split(d) for d in digests]
    for use, share in ((MlUse.TRAIN, 0.8), (MlUse.VALIDATION, 0.1), (MlUse.TEST, 0.1)):
        assert splits.count(use) / len(splits) == pytest.approx(share, abs=0.01)


def test_rows_without_ml_use_and_duplicates_append_labels(emulator, automl, digits):
    """Identical content under two paths is one example; its labels are appended."""
    env = emulator.env
    a, b = digits.images[2], digits.images[3]
    storage_client(env).bucket(digits.bucket).blob("copies/a_again.png").upload_from_string(a.data)
    lines = [
        f"TRAIN,{digits.uri(a)},zero",
        f"TRAIN,{digits.uri(a)},round",
        f"TEST,gs://{digits.bucket}/copies/a_again.png,curvy,round",
        f"{digits.uri(b)}",  # no ML_USE (UNASSIGNED), no label (unlabeled image)
    ]
    dataset = create_dataset(automl, "multi", kind="MULTILABEL")
    wait_for(start_import(automl, dataset.name, upload_csv(env, digits.bucket, lines)))

    assert automl.get_dataset(name=dataset.name).example_count == 2
    assert spec_counts(env, automl, dataset.name) == {"curvy": 1, "round": 1, "zero": 1}
    rows = {row[1]: row for row in export_rows(env, automl, dataset.name, digits.bucket)}
    assert rows[digits.uri(a)] == ["TRAIN", digits.uri(a), "zero", "round", "curvy"]
    assert rows[digits.uri(b)][2:] == []


def test_a_second_import_adds_to_the_dataset(emulator, automl, digits):
    env = emulator.env
    first, second = digits.images[:10], digits.images[10:15]
    dataset = create_dataset(automl, "twice", kind="MULTILABEL")
    lines = [f"TRAIN,{digits.uri(i)},{i.label}" for i in first]
    wait_for(start_import(automl, dataset.name, upload_csv(env, digits.bucket, lines)))
    again = first[0]  # known already: keeps its ML_USE and path, gains a label
    lines = [f"TEST,{digits.uri(i)},{i.label}" for i in second] + [f"TEST,{digits.uri(again)},x"]
    wait_for(start_import(automl, dataset.name, upload_csv(env, digits.bucket, lines)))
    assert automl.get_dataset(name=dataset.name).example_count == 15
    rows = {row[1]: row for row in export_rows(env, automl, dataset.name, digits.bucket)}
    assert rows[digits.uri(again)] == ["TRAIN", digits.uri(again), again.label, "x"]


# ---- acceptance: bad imports --------------------------------------------------------------------


BAD_ROWS = {
    "missing file": (
        lambda d, f: f"TRAIN,gs://{d.bucket}/nowhere/missing.jpg,zero",
        exceptions.NotFound.grpc_status_code,
        "gs://{bucket}/nowhere/missing.jpg: file does not exist",
    ),
    "text file named .jpg": (
        lambda d, f: f"TRAIN,{f['text']},zero",
        exceptions.InvalidArgument.grpc_status_code,
        "content is not an image in an accepted format (JPEG, PNG, GIF, BMP, ICO, WEBP, TIFF)",
    ),
    "31 MB image": (
        lambda d, f: f"TRAIN,{f['huge']},zero",
        exceptions.InvalidArgument.grpc_status_code,
        "image is 31.0 MB; the limit is 30 MB per image",
    ),
    "label with a hyphen": (
        lambda d, f: f"TRAIN,{d.uri(d.images[0])},sea-lion",
        exceptions.InvalidArgument.grpc_status_code,
        "label 'sea-lion' is invalid; a label has 1 to 32 characters",
    ),
    "two labels on a multiclass row": (
        lambda d, f: f"TRAIN,{d.uri(d.images[0])},zero,one",
        exceptions.InvalidArgument.grpc_status_code,
        "the image has 2 labels (zero, one) but the dataset is MULTICLASS",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_import_fails_with_the_reason(emulator, automl, digits, bad_files, case):
    row, code, reason = BAD_ROWS[case]
    reason = reason.format(bucket=digits.bucket)
    csv_uri = upload_csv(emulator.env, digits.bucket, [row(digits, bad_files)])
    dataset = create_dataset(automl, "bad")
    op = start_import(automl, dataset.name, csv_uri)

    with pytest.raises(exceptions.InvalidArgument) as info:
        wait_for(op)
    assert "1 of 1 rows could not be imported" in info.value.message
    assert "nothing was imported" in info.value.message
    assert reason in info.value.message
    (failure,) = op.metadata.partial_failures
    assert failure.code == code.value[0]
    assert failure.message.startswith(f"{csv_uri} line 1: ")
    assert reason in failure.message
    assert automl.get_dataset(name=dataset.name).example_count == 0


def test_a_few_bad_rows_are_reported_and_skipped(emulator, automl, digits):
    good = [f"TEST,{digits.uri(i)},{i.label}" for i in digits.images[:40]]
    bad = f"TEST,gs://{digits.bucket}/nowhere/gone.png,zero"
    csv_uri = upload_csv(emulator.env, digits.bucket, [*good[:20], bad, *good[20:]])
    dataset = create_dataset(automl, "mostly_good")
    op = start_import(automl, dataset.name, csv_uri)
    wait_for(op)
    (failure,) = op.metadata.partial_failures
    assert failure.message.startswith(f"{csv_uri} line 21: gs://{digits.bucket}/nowhere/gone.png")
    assert automl.get_dataset(name=dataset.name).example_count == 40


def test_more_than_10_percent_bad_rows_fail_the_whole_import(emulator, automl, digits):
    good = [f"TRAIN,{digits.uri(i)},{i.label}" for i in digits.images[:8]]
    bad = [f"TRAIN,{digits.uri(digits.images[9])},bad-label", "FOO,gs://x/y.png,zero"]
    dataset = create_dataset(automl, "too_many_bad")
    op = start_import(automl, dataset.name, upload_csv(emulator.env, digits.bucket, good + bad))
    with pytest.raises(exceptions.InvalidArgument, match="2 of 10 rows could not be imported"):
        wait_for(op)
    messages = [f.message for f in op.metadata.partial_failures]
    assert "line 9" in messages[0] and "'bad-label' is invalid" in messages[0]
    assert "line 10" in messages[1] and "'FOO' is neither an ML_USE" in messages[1]
    assert automl.get_dataset(name=dataset.name).example_count == 0


def test_multiclass_conflict_with_labels_already_imported(emulator, automl, digits):
    image = digits.images[5]
    dataset = create_dataset(automl, "conflict")
    lines = [f"TRAIN,{digits.uri(image)},zero", f"TRAIN,{digits.uri(image)},zero"]
    wait_for(start_import(automl, dataset.name, upload_csv(emulator.env, digits.bucket, lines)))
    assert automl.get_dataset(name=dataset.name).example_count == 1  # same label twice is fine
    again = upload_csv(emulator.env, digits.bucket, [f"TRAIN,{digits.uri(image)},one"])
    with pytest.raises(exceptions.InvalidArgument, match=r"2 labels \(zero, one\)"):
        wait_for(start_import(automl, dataset.name, again))


def test_import_errors_of_the_request_and_of_the_csv(emulator, automl, digits):
    dataset = create_dataset(automl, "requests")
    with pytest.raises(exceptions.NotFound, match=r"Import CSV gs://.*/csv/absent\.csv does not"):
        wait_for(start_import(automl, dataset.name, f"gs://{digits.bucket}/csv/absent.csv"))
    latin1 = f"gs://{digits.bucket}/csv/latin1.csv"
    storage_client(emulator.env).bucket(digits.bucket).blob("csv/latin1.csv").upload_from_string(
        "TRAIN,gs://b/caf\xe9.png,zero\n".encode("latin-1")
    )
    with pytest.raises(exceptions.InvalidArgument, match="is not UTF-8 text"):
        wait_for(start_import(automl, dataset.name, latin1))
    with pytest.raises(exceptions.InvalidArgument, match=r"must be a \.csv file"):
        start_import(automl, dataset.name, f"gs://{digits.bucket}/index.txt")
    with pytest.raises(exceptions.InvalidArgument, match="not a Cloud Storage object URI"):
        start_import(automl, dataset.name, "/local/file.csv")
    with pytest.raises(exceptions.InvalidArgument, match="at least one gs:// URI"):
        start_import(automl, dataset.name)
    with pytest.raises(exceptions.NotFound, match="Dataset doesn't exist"):
        start_import(automl, f"{PARENT}/datasets/ICN0000000000000000001", latin1)


# ---- dataset CRUD ------------------------------------------------------------------------------


def test_create_get_update_delete(automl):
    op = automl.create_dataset(
        parent=PARENT,
        dataset=automl_v1.Dataset(
            display_name="flowers_v1",
            description="first",
            labels={"team": "vision"},
            image_classification_dataset_metadata={"classification_type": "MULTILABEL"},
        ),
    )
    created = wait_for(op)
    assert re.fullmatch(rf"{PARENT}/datasets/ICN\d{{19}}", created.name)
    assert "create_dataset_details" in op.metadata
    got = automl.get_dataset(name=created.name)
    assert got.display_name == "flowers_v1" and got.description == "first"
    assert got.labels == {"team": "vision"}
    assert got.image_classification_dataset_metadata.classification_type.name == "MULTILABEL"
    assert got.create_time.timestamp() == pytest.approx(time.time(), abs=60)

    got.display_name = "flowers_v2"
    got.description = "ignored: not in the mask"
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    updated = automl.update_dataset(dataset=got, update_mask=mask)
    assert (updated.display_name, updated.description) == ("flowers_v2", "first")
    assert updated.etag != got.etag
    with pytest.raises(exceptions.Aborted, match="etag"):
        automl.update_dataset(dataset=got, update_mask=mask)  # got.etag is stale now
    with pytest.raises(exceptions.InvalidArgument, match="update_mask"):
        automl.update_dataset(dataset=updated, update_mask=field_mask_pb2.FieldMask())
    with pytest.raises(exceptions.InvalidArgument, match="example_count cannot be updated"):
        automl.update_dataset(
            dataset=updated, update_mask=field_mask_pb2.FieldMask(paths=["example_count"])
        )

    delete = automl.delete_dataset(name=created.name)
    assert wait_for(delete) == empty_pb2.Empty()
    assert "delete_details" in delete.metadata
    with pytest.raises(exceptions.NotFound, match=created.name):
        automl.get_dataset(name=created.name)
    with pytest.raises(exceptions.NotFound):
        automl.delete_dataset(name=created.name)


@pytest.mark.parametrize(
    ("dataset", "error", "message"),
    [
        (
            {
                "display_name": "has-hyphen",
                "image_classification_dataset_metadata": {"classification_type": "MULTICLASS"},
            },
            exceptions.InvalidArgument,
            "'has-hyphen' is not a valid display name",
        ),
        ({"display_name": "x"}, exceptions.InvalidArgument, "dataset_metadata; Message: required"),
        (
            {"display_name": "x", "image_classification_dataset_metadata": {}},
            exceptions.InvalidArgument,
            "classification_type; Message: required",
        ),
        (
            {"display_name": "x", "translation_dataset_metadata": {"source_language_code": "en"}},
            exceptions.MethodNotImplemented,
            "image classification datasets only",
        ),
    ],
)
def test_create_dataset_rejects(automl, dataset, error, message):
    with pytest.raises(error, match=message):
        automl.create_dataset(parent=PARENT, dataset=dataset)


def test_names_are_checked(automl):
    with pytest.raises(
        exceptions.InvalidArgument, match="'datasets/x' is not a valid Dataset name"
    ):
        automl.get_dataset(name="datasets/x")
    with pytest.raises(exceptions.InvalidArgument, match="not a valid location name"):
        automl.list_datasets(parent="projects/p")
    with pytest.raises(exceptions.NotFound, match="Dataset doesn't exist"):
        automl.get_dataset(name=f"{PARENT}/datasets/ICN1234567890123456789")
    with pytest.raises(exceptions.InvalidArgument, match="not a valid AnnotationSpec name"):
        automl.get_annotation_spec(name=f"{PARENT}/datasets/ICN1/annotationSpecs/abc")
    with pytest.raises(exceptions.NotFound, match="AnnotationSpec doesn't exist"):
        dataset = create_dataset(automl, "nospecs")
        automl.get_annotation_spec(name=f"{dataset.name}/annotationSpecs/123")


def test_list_pages_and_filters(automl):
    parent = f"projects/paging-{uuid.uuid4().hex[:6]}/locations/us-central1"
    names = [create_dataset(automl, f"d{i}", parent=parent).name for i in range(3)]
    pager = automl.list_datasets(request={"parent": parent, "page_size": 2})
    assert [d.name for d in pager] == names
    assert [
        len(page.datasets)
        for page in automl.list_datasets(request={"parent": parent, "page_size": 2}).pages
    ] == [2, 1]
    only_images = automl.list_datasets(
        request={"parent": parent, "filter": "image_classification_dataset_metadata:*"}
    )
    assert len(list(only_images)) == 3
    translation = automl.list_datasets(
        request={"parent": parent, "filter": "translation_dataset_metadata:*"}
    )
    assert list(translation) == []
    with pytest.raises(exceptions.InvalidArgument, match="filter"):
        list(automl.list_datasets(request={"parent": parent, "filter": "display_name=x"}))


# ---- operations ---------------------------------------------------------------------------------


def test_operations_get_list_wait_cancel_delete(emulator_factory, digits):
    server = emulator_factory()
    env = server.env
    client = automl_client(env)
    ops = operations_client(env)
    waiter = operations_pb2_grpc.OperationsStub(client.transport.grpc_channel)
    bucket = storage_client(env).create_bucket("ops-bucket")
    images = digits.images[:3]
    for image in images:
        bucket.blob(f"{image.index}.png").upload_from_string(image.data)
    lines = [f"TRAIN,gs://ops-bucket/{i.index}.png,{i.label}" for i in images]
    csv_uri = upload_csv(env, "ops-bucket", lines)
    dataset = create_dataset(client, "ops")

    status, _ = admin(
        env, "POST", "/emulator/v1/faults", {"method": "ImportData.commit", "effect": "HOLD"}
    )
    assert status == 200
    held = start_import(client, dataset.name, csv_uri)
    name = held.operation.name
    wait_until_held(env, "ImportData.commit")
    assert ops.get_operation(name).done is False
    quick = waiter.WaitOperation(
        operations_pb2.WaitOperationRequest(name=name, timeout=duration_pb2.Duration(nanos=10**8))
    )
    assert quick.done is False
    with pytest.raises(exceptions.FailedPrecondition, match="still running"):
        ops.delete_operation(name)
    with pytest.raises(exceptions.FailedPrecondition, match="import running"):
        start_import(client, dataset.name, csv_uri)
    with pytest.raises(exceptions.FailedPrecondition, match="cannot be deleted while operation"):
        client.delete_dataset(name=dataset.name)

    ops.cancel_operation(name)
    with pytest.raises(exceptions.Cancelled, match="was cancelled"):
        wait_for(held)
    assert client.get_dataset(name=dataset.name).example_count == 0

    admin(env, "DELETE", "/emulator/v1/faults")
    second = start_import(client, dataset.name, csv_uri)
    done = waiter.WaitOperation(operations_pb2.WaitOperationRequest(name=second.operation.name))
    assert done.done and done.HasField("response")
    assert client.get_dataset(name=dataset.name).example_count == 3

    parent = dataset.name.split("/datasets/")[0]
    listed = [op.name for op in ops.list_operations(parent, filter_="")]
    assert {name, second.operation.name} <= set(listed)
    on_dataset = ops.list_operations(parent, filter_=f'done=true AND worksOn="{dataset.name}"')
    names = [op.name for op in on_dataset]  # CreateDataset, the cancelled and the second import
    assert len(names) == 3 and names[1:] == [name, second.operation.name]
    with pytest.raises(exceptions.InvalidArgument, match="filter"):
        list(ops.list_operations(parent, filter_="state=RUNNING"))

    ops.delete_operation(name)
    with pytest.raises(exceptions.NotFound, match=name):
        ops.get_operation(name)
    with pytest.raises(exceptions.InvalidArgument, match="not a valid operation name"):
        ops.get_operation("operations/1")


# ---- fault injection ----------------------------------------------------------------------------


def test_injected_faults_reach_the_client_and_retry_recovers(emulator_factory, digits):
    env = emulator_factory().env
    client = automl_client(env)
    dataset = create_dataset(client, "faults")
    bucket = storage_client(env).create_bucket("faults-bucket")
    bucket.blob("one.png").upload_from_string(digits.images[1].data)
    csv_uri = upload_csv(env, "faults-bucket", ["TRAIN,gs://faults-bucket/one.png,one"])

    def arm(method: str, effect: str, count: int = 1) -> None:
        status, body = admin(
            env, "POST", "/emulator/v1/faults", {"method": method, "effect": effect, "count": count}
        )
        assert status == 200, body

    arm("GetDataset", "UNAVAILABLE", 2)  # GetDataset's default retry covers UNAVAILABLE
    assert client.get_dataset(name=dataset.name).name == dataset.name
    assert admin(env, "GET", "/emulator/v1/faults")[1]["faults"] == []

    arm("google.cloud.automl.v1.AutoMl/CreateDataset", "UNAVAILABLE")  # not retried
    with pytest.raises(exceptions.ServiceUnavailable, match="fault injected"):
        create_dataset(client, "again")
    create_dataset(client, "again")

    arm("GetDataset", "DEADLINE_EXCEEDED")
    with pytest.raises(exceptions.DeadlineExceeded):
        client.get_dataset(name=dataset.name, retry=None)
    arm("ListDatasets", "RESOURCE_EXHAUSTED")  # not in the retry predicate
    with pytest.raises(exceptions.ResourceExhausted):
        list(client.list_datasets(parent=PARENT))

    arm("ImportData.commit", "INTERNAL")  # a background step fails its operation
    with pytest.raises(exceptions.InternalServerError, match="fault injected"):
        wait_for(start_import(client, dataset.name, csv_uri))
    assert client.get_dataset(name=dataset.name).example_count == 0
    wait_for(start_import(client, dataset.name, csv_uri))
    assert client.get_dataset(name=dataset.name).example_count == 1

    status, body = admin(env, "POST", "/emulator/v1/faults", {"method": "X", "effect": "BOGUS"})
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert "effect 'BOGUS' is not allowed" in body["error"]["message"]


def test_faults_armed_from_the_environment(emulator_factory, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_EMULATOR_FAULTS", "ListDatasets=UNAVAILABLE:1")
    client = automl_client(emulator_factory().env)
    with pytest.raises(exceptions.ServiceUnavailable):
        list(client.list_datasets(parent=PARENT, retry=None))
    assert list(client.list_datasets(parent=PARENT, retry=None)) == []
