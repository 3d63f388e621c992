"""A no-op check reads no image and builds no manifest; any change to the source scans again.

`summarize_local` (what the Dataset provider's check runs) answers from the stat cache when
the scan's key (every name and stamp; a zip's own stamp; the options; the rules) is the one
saved. Checked by what it calls, not by time.
"""

import io
import shutil

import pytest
from PIL import Image

import components.data.archive as archive_module
import components.data.manifest as manifest_module
from components.data import check_pool
from components.data.errors import DatasetError
from components.data.manifest import SplitSpec, scan_local, summarize_local
from tests.fixtures.digits import digit_images, write_zip

LABELS = ("zero", "one", "two")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "digits"
    for i in digit_images(12, LABELS):
        (root / i.label).mkdir(parents=True, exist_ok=True)
        (root / i.label / f"{i.index:04d}.{i.extension}").write_bytes(i.data)
    return root


@pytest.fixture
def calls(monkeypatch):
    """Names of the images checked and the manifests built, as they happen."""
    seen: dict[str, list[object]] = {"checked": [], "manifests": []}
    check, build = manifest_module.check_image, manifest_module.build_manifest

    def checked(data, name):
        seen["checked"].append(name)
        return check(data, name)

    def built(*args, **kwargs):
        seen["manifests"].append(kwargs["label"])
        return build(*args, **kwargs)

    monkeypatch.setattr(manifest_module, "check_image", checked)
    monkeypatch.setattr(manifest_module, "build_manifest", built)
    return seen


def _summary(path, kind="directory", **kw):
    kw.setdefault("classification", "multiclass")
    return summarize_local(kind, path, label=path.name, **kw)


def _reset(calls):
    for seen in calls.values():
        seen.clear()


def test_a_no_op_check_reads_no_image_and_builds_no_manifest(tree, calls):
    first = _summary(tree)
    assert len(calls["checked"]) == 36 and len(calls["manifests"]) == 1
    _reset(calls)
    second = _summary(tree)
    assert calls == {"checked": [], "manifests": []}
    assert second == first
    manifest, _ = scan_local("directory", tree, classification="multiclass", label=tree.name)
    assert second == manifest.summary  # what a full scan finds


def test_a_no_op_check_of_a_zip_does_not_open_it(tmp_path, calls, monkeypatch):
    archive = write_zip(tmp_path / "digits.zip", digit_images(12, LABELS))
    first = _summary(archive, "zip")
    _reset(calls)
    monkeypatch.setattr(archive_module.zipfile, "ZipFile", None)  # any use fails
    assert _summary(archive, "zip") == first
    assert calls == {"checked": [], "manifests": []}


def test_an_edited_image_is_read_again_and_changes_the_fingerprint(tree, calls):
    first = _summary(tree)
    victim = sorted((tree / "one").iterdir())[0]
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, "PNG")
    victim.with_suffix(".png").write_bytes(buf.getvalue())
    if victim.suffix != ".png":
        victim.unlink()
    _reset(calls)
    second = _summary(tree)
    assert calls["checked"] == [f"one/{victim.stem}.png"]  # only the changed file is read
    assert second.fingerprint != first.fingerprint


def test_a_renamed_image_builds_the_manifest_again_with_the_same_fingerprint(tree, calls):
    first = _summary(tree)
    victim = sorted((tree / "two").iterdir())[0]
    victim.rename(victim.with_name(f"renamed{victim.suffix}"))
    _reset(calls)
    second = _summary(tree)
    assert len(calls["manifests"]) == 1  # the key changed: the summary is not reused
    assert second.fingerprint == first.fingerprint


def test_an_added_hidden_file_changes_the_warnings(tree):
    first = _summary(tree)
    (tree / ".DS_Store").write_bytes(b"\0")
    second = _summary(tree)
    assert second.fingerprint == first.fingerprint
    assert any("skipped 1 hidden or system entry (.DS_Store)" in w for w in second.warnings)


def test_other_options_are_other_keys(tree, calls):
    first = _summary(tree)
    _reset(calls)
    reseeded = _summary(tree, split=SplitSpec(seed=7))
    assert len(calls["manifests"]) == 1 and calls["checked"] == []  # images from the cache
    assert reseeded.fingerprint != first.fingerprint
    _reset(calls)
    assert _summary(tree, classification="multilabel").fingerprint != first.fingerprint
    assert len(calls["manifests"]) == 1


def test_a_changed_labels_file_is_another_key(tmp_path):
    root = tmp_path / "unlabeled"
    root.mkdir()
    images = digit_images(12, LABELS)
    for i in images:
        (root / f"{i.index:04d}.{i.extension}").write_bytes(i.data)
    labels = tmp_path / "labels.csv"
    rows = [f"{i.index:04d}.{i.extension},{i.label}" for i in images]
    labels.write_text("\n".join(rows) + "\n")
    first = _summary(root, "images", labels_file=labels)
    labels.write_text("\n".join(rows[:-1]) + "\n")  # one image left unlabeled
    second = _summary(root, "images", labels_file=labels)
    assert second.image_count == first.image_count - 1


def test_a_failing_source_is_never_answered_from_the_cache(tree):
    _summary(tree)
    for image in list((tree / "two").iterdir())[3:]:
        image.unlink()  # 3 images left: under the minimum per label
    with pytest.raises(DatasetError, match="label 'two' has 3 image"):
        _summary(tree)
    with pytest.raises(DatasetError, match="label 'two' has 3 image"):
        _summary(tree)


def test_an_edit_found_at_upload_drops_the_summary(tree, cache, calls):
    """An edit the stamps cannot see (within the file system's timestamp tick: git's racily
    clean files) is found by the upload's verified read, which forgets the file's entry and
    the summary that counted it: the next check reads the file again."""
    manifest, items = scan_local("directory", tree, classification="multiclass", label=tree.name)
    assert any(cache.glob("summary-*.json"))
    victim = manifest.entries[0].source
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 255, 0)).save(buf, manifest.entries[0].format)
    (tree / victim).write_bytes(buf.getvalue())
    with pytest.raises(DatasetError, match="changed since it was checked"):
        items[victim].read()
    assert not any(cache.glob("summary-*.json"))
    _reset(calls)
    _summary(tree)
    assert calls["checked"] == [victim]


def test_many_images_are_checked_in_worker_processes_alike(tree, monkeypatch, calls):
    bad = tree / "zero" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError) as threads:
        scan_local("directory", tree, classification="multiclass", use_cache=False)
    assert f"{tree}/zero/broken.png" in str(threads.value)
    bad.unlink()
    in_threads, _ = scan_local("directory", tree, classification="multiclass", use_cache=False)
    _reset(calls)
    monkeypatch.setattr(check_pool, "MIN_IMAGES", 1)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError) as processes:
        scan_local("directory", tree, classification="multiclass", use_cache=False)
    assert str(processes.value) == str(threads.value)
    bad.unlink()
    in_processes, _ = scan_local("directory", tree, classification="multiclass", use_cache=False)
    assert in_processes == in_threads
    assert calls["checked"] == []  # this process checked nothing: its workers did


# A cold check (no stat cache: a new clone, a CI runner, a removed cache) of content that an
# earlier check passed: the state's fingerprint vouches for it, so the images are read and
# hashed, not decoded (as `git status` re-hashes what its index no longer vouches for).


def _cold(cache):
    shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.parametrize("kind", ["directory", "zip"])
def test_a_cold_check_of_content_the_state_vouches_for_decodes_nothing(
    tree, tmp_path, cache, calls, kind
):
    zipped = kind == "zip"
    source = write_zip(tmp_path / "d.zip", digit_images(12, LABELS)) if zipped else tree
    first = _summary(source, kind)
    _cold(cache)
    _reset(calls)
    second = _summary(source, kind, trusted=first.fingerprint)
    assert calls["checked"] == []  # read and hashed only
    assert second == first
    _reset(calls)
    assert _summary(source, kind) == first  # and the stat cache is warm again
    assert calls == {"checked": [], "manifests": []}


def test_a_cold_check_of_changed_content_decodes_every_image(tree, cache, calls):
    first = _summary(tree)
    victim = sorted((tree / "one").iterdir())[0]
    buf = io.BytesIO()
    fmt = "JPEG" if victim.suffix == ".jpg" else "PNG"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, fmt)
    victim.write_bytes(buf.getvalue())
    _cold(cache)
    _reset(calls)
    second = _summary(tree, trusted=first.fingerprint)
    assert len(calls["checked"]) == 36  # not the content vouched for: every image decoded
    assert second.fingerprint != first.fingerprint


def test_a_vouched_content_under_a_wrong_extension_is_refused(tree, cache, calls):
    """The fingerprint covers contents, labels and splits, not names: a PNG renamed .jpg keeps
    it, and must still fail the check."""
    first = _summary(tree)
    victim = next(p for p in sorted((tree / "two").iterdir()) if p.suffix == ".png")
    victim.rename(victim.with_suffix(".jpg"))
    _cold(cache)
    with pytest.raises(DatasetError, match=r"is a PNG image but its name ends in \.jpg"):
        _summary(tree, trusted=first.fingerprint)


def test_a_corrupt_image_is_never_vouched_for(tree, cache):
    """A fingerprint names the contents it was made of: another fingerprint (or a forged one)
    never lets unchecked bytes through."""
    first = _summary(tree)
    (tree / "zero" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _cold(cache)
    with pytest.raises(DatasetError, match=r"broken\.png"):
        _summary(tree, trusted=first.fingerprint)
