"""Bucket and Dataset providers through the Pulumi SDK's provider host, against the emulator."""

import hashlib
import io
import shutil
import stat
import zipfile

import pytest
from PIL import Image

import components.data.manifest as manifest_module
from components.cloud.adapters import training_api
from components.cloud.storage import BucketAdmin, ObjectStore
from components.providers.bucket import BucketProvider, bucket_inputs
from components.providers.dataset import DatasetProvider, dataset_inputs
from components.spec import load_specs
from tests.fixtures.digits import digit_images, write_zip
from tests.providers.conftest import SPECS

LABELS = ("zero", "one", "two")


def _specs(project, dataset, zip_name):
    directory = project / f"specs-{dataset}"
    directory.mkdir(exist_ok=True)
    (directory / "all.yaml").write_text(SPECS.format(dataset=dataset, zip=f"../data/{zip_name}"))
    return load_specs(directory)


def _dataset_props(host, project, target, bucket, dataset, zip_name):
    spec = _specs(project, dataset, zip_name).datasets[dataset]
    return host.inputs(DatasetProvider(), dataset_inputs(spec, target, bucket, root=project))


def _images(store):
    return store.names("images/")


def test_bucket_second_pass_has_no_changes_and_labels_update_in_place(
    host, project, target, bucket
):
    spec = load_specs(project / "specs-bucket").buckets["data"]
    urn = host.urn("edge-labeler:Bucket", "data")
    props = host.inputs(BucketProvider(), bucket_inputs(spec, target))
    _, live = host.read(urn, bucket, props)
    again, _ = host.check(urn, props, olds=live)
    assert host.diff(urn, bucket, live, again).changes is False
    relabeled = {**again, "labels": {"team": "vision"}}
    diff = host.diff(urn, bucket, live, relabeled)
    assert diff.changes is True and diff.replaces == ()
    host.update(urn, bucket, live, relabeled)
    assert BucketAdmin(target, bucket).get()["labels"] == {"team": "vision"}
    host.update(urn, bucket, relabeled, again)


def test_create_diff_add_image_replace_delete(host, project, target, bucket):
    api = training_api(target)
    store = ObjectStore(target, bucket)
    images = digit_images(12, LABELS)
    write_zip(project / "data" / "a.zip", images)
    urn = host.urn("edge-labeler:Dataset", "digits-a")
    props = _dataset_props(host, project, target, bucket, "digits-a", "a.zip")
    before = _images(store)

    inputs, failures = host.check(urn, props)
    assert failures == []
    assert inputs["imageCount"] == 36 and inputs["labels"] == ["one", "two", "zero"]
    id_, outs = host.create(urn, inputs)
    assert outs["datasetName"] == id_ and outs["exampleCount"] == 36
    assert outs["uploadedImages"] == 36 and len(_images(store) - before) == 36
    assert api.get_dataset(id_).example_count == 36
    assert any("[dataset digits-a] importing 36 images" in line for line in host.output)

    # Same inputs: check recomputes the same fingerprint (from the stat cache) → no changes.
    again, _ = host.check(urn, props, olds=outs)
    assert again["fingerprint"] == outs["fingerprint"]
    assert host.diff(urn, id_, outs, again).changes is False

    # One more image: the fingerprint changes → replace; only that image is uploaded.
    extra = digit_images(13, ("two",))[-1]
    write_zip(project / "data" / "a.zip", (*images, extra))
    changed, _ = host.check(urn, props, olds=outs)
    diff = host.diff(urn, id_, outs, changed)
    assert diff.changes is True and diff.replaces == ("fingerprint",)
    new_id, new_outs = host.create(urn, changed)
    assert new_id != id_ and new_outs["exampleCount"] == 37
    assert new_outs["uploadedImages"] == 1 and len(_images(store) - before) == 37

    # The engine deletes the replaced dataset after creating the new one.
    host.delete(urn, id_, outs)
    assert api.get_dataset(id_) is None and api.get_dataset(new_id) is not None

    # Deleted outside Pulumi: Read reports it gone (empty id), so refresh drops it.
    api.delete_dataset(new_id)
    gone_id, _ = host.read(urn, new_id, new_outs)
    assert gone_id == ""


def test_renaming_files_changes_nothing(host, project, target, bucket):
    images = digit_images(10, LABELS)
    write_zip(project / "data" / "r1.zip", images)
    path = project / "data" / "r2.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in images:
            zf.writestr(f"{i.label}/renamed_{i.index}.{i.extension}", i.data)
    urn = host.urn("edge-labeler:Dataset", "digits-r")
    first, _ = host.check(urn, _dataset_props(host, project, target, bucket, "digits-r", "r1.zip"))
    second, _ = host.check(urn, _dataset_props(host, project, target, bucket, "digits-r", "r2.zip"))
    assert first["fingerprint"] == second["fingerprint"]


def test_a_cold_check_decodes_nothing_the_deployed_fingerprint_vouches_for(
    project, target, bucket, monkeypatch, tmp_path
):
    """With no stat cache (a new clone, a CI runner), the check of an unchanged source only
    hashes its images: the deployed dataset's fingerprint (the check's `olds`) vouches for
    their content. (In this process, to see what it decodes; the host runs the same code.)"""
    write_zip(project / "data" / "v.zip", digit_images(12, LABELS))
    spec = _specs(project, "digits-v", "v.zip").datasets["digits-v"]
    news = dataset_inputs(spec, target, bucket, root=project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    deployed = DatasetProvider().check({}, news).inputs
    decoded: list[str] = []
    real = manifest_module.check_image
    monkeypatch.setattr(
        manifest_module, "check_image", lambda data, name: decoded.append(name) or real(data, name)
    )
    shutil.rmtree(tmp_path / "cache")
    assert DatasetProvider().check(deployed, news).inputs == deployed
    assert decoded == []
    shutil.rmtree(tmp_path / "cache")
    assert DatasetProvider().check({}, news).inputs == deployed  # nothing deployed yet
    assert len(decoded) == 36


def _write_hostile(path, kind, images):
    """A hostile archive: a valid one plus one kind of attack or mistake."""
    good = [(f"{i.label}/{i.index:04d}.{i.extension}", i.data) for i in images]
    jpeg = next(i for i in images if i.format == "JPEG")
    gif = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(gif, "GIF")
    link = zipfile.ZipInfo("zero/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    extra = {
        "traversal": [("../../etc/evil.png", b"x")],
        "absolute": [("/etc/passwd", b"x")],
        "symlink": [(link, "/etc/passwd")],
        "corrupt-jpeg": [("zero/broken.jpg", jpeg.data[:200])],
        "gif-named-png": [("one/red.png", gif.getvalue())],
        "empty-files": [(f"one/{n:05d}.png", b"") for n in range(10_000)],
        "hyphen-label": [(f"not-a-label/{n}.{i.extension}", i.data) for n, i in enumerate(images)],
        "bomb": [],
        "corrupt-member": [],
    }[kind]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in [*good, *extra]:
            zf.writestr(name, data)
        if kind == "bomb":  # 1 GiB of zeros: about 1 MB in the archive
            with zf.open("zero/bomb.png", "w", force_zip64=True) as fh:
                for _ in range(64):
                    fh.write(b"\0" * (16 * 1024 * 1024))
    if kind == "corrupt-member":  # one byte of a member's data flipped: its CRC-32 fails
        info = zipfile.ZipFile(path).getinfo(good[3][0])
        raw = bytearray(path.read_bytes())
        raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 5] ^= 0xFF
        path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("traversal", "h.zip:../../etc/evil.png: entry name climbs out of the archive"),
        ("absolute", "h.zip:/etc/passwd: entry name is an absolute path; refused"),
        ("symlink", "h.zip:zero/link.png: is a symbolic link; links are refused"),
        ("empty-files", "… and 9995 more with the same problem (image)"),
        ("bomb", "h.zip:zero/bomb.png: is 1024.0 MB; each image must be 30 MB or smaller"),
        ("corrupt-jpeg", "h.zip:zero/broken.jpg: cannot be decoded"),
        ("gif-named-png", "h.zip:one/red.png: is a GIF image but its name ends in .png"),
        ("hyphen-label", "label 'not-a-label' is not allowed; labels are 1–32 characters"),
        # zipfile's zlib.error escaped the check on 77422e0 (not a ValueError): a traceback
        ("corrupt-member", "h.zip:zero/0010.jpg: cannot be read (its data does not inflate"),
    ],
)
def test_bad_sources_fail_check_and_create_nothing(host, project, target, bucket, kind, expected):
    api = training_api(target)
    store = ObjectStore(target, bucket)
    datasets_before = {d.name for d in api.find_datasets({})}
    images_before = _images(store)
    _write_hostile(project / "data" / "h.zip", kind, digit_images(10, LABELS))
    urn = host.urn("edge-labeler:Dataset", "hostile")
    _, failures = host.check(urn, _dataset_props(host, project, target, bucket, "hostile", "h.zip"))
    assert len(failures) == 1 and failures[0][0] == "source"
    assert expected in failures[0][1]
    assert "Traceback" not in failures[0][1]
    assert {d.name for d in api.find_datasets({})} == datasets_before
    assert _images(store) == images_before


def test_csv_index_source(host, project, target, bucket):
    """The guide's option 2: images already in Cloud Storage, listed in a CSV index."""
    store = ObjectStore(target, bucket)
    images = digit_images(10, LABELS)
    uses = ("TRAIN", "VALIDATION", "TEST", "UNASSIGNED")
    rows = []
    for n, i in enumerate(images):
        name = f"uploads/{i.label}_{i.index}.{i.extension}"
        store.write(name, i.data)
        rows.append(f"{uses[n % 4]},gs://{bucket}/{name},{i.label}")
    store.write("uploads/index.csv", ("\n".join(rows) + "\n").encode())
    directory = project / "specs-csv"
    directory.mkdir(exist_ok=True)
    (directory / "all.yaml").write_text(
        SPECS.format(dataset="digits-csv", zip="x").replace(
            "{zip: x}", f"{{csv: 'gs://{bucket}/uploads/index.csv'}}"
        )
    )
    spec = load_specs(directory).datasets["digits-csv"]
    props = host.inputs(DatasetProvider(), dataset_inputs(spec, target, bucket, root=project))
    urn = host.urn("edge-labeler:Dataset", "digits-csv")
    inputs, failures = host.check(urn, props)
    assert failures == []
    splits = {s: sum(c[s] for c in inputs["labelCounts"].values()) for s in uses[:3]}
    # Rows with an ML_USE keep it; UNASSIGNED rows are split by content hash.
    assert splits["TRAIN"] >= 8 and splits["VALIDATION"] >= 7 and splits["TEST"] >= 7
    before = _images(store)
    id_, outs = host.create(urn, inputs)
    copied = _images(store) - before
    assert outs["exampleCount"] == 30 and outs["uploadedImages"] == len(copied)
    expected = {f"images/{hashlib.sha256(i.data).hexdigest()}.{i.extension}" for i in images}
    assert expected <= _images(store)  # every image is content-addressed in the stack bucket
    host.delete(urn, id_, outs)

    # A row naming an object that does not exist: the preview fails, naming the row.
    store.write(
        "uploads/index.csv", (rows[0] + f"\nTRAIN,gs://{bucket}/uploads/nope.png,one\n").encode()
    )
    _, failures = host.check(urn, props)
    assert failures == [
        (
            "source",
            f"gs://{bucket}/uploads/index.csv:2: gs://{bucket}/uploads/nope.png does not exist",
        )
    ]
