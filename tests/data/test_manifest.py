"""Manifest: content fingerprint, deterministic stratified split, label rules, stat cache."""

import io
import os

import pytest
from PIL import Image

import components.data.manifest as manifest_module
from components.data.csv_index import parse_index, write_index
from components.data.errors import DatasetError
from components.data.images import check_image, format_by_signature
from components.data.manifest import SplitSpec, scan_local
from tests.fixtures.digits import digit_images

LABELS = ("zero", "one", "two")


def _write_tree(root, images, rename=lambda i: f"{i.index:04d}"):
    for i in images:
        path = root / i.label / f"{rename(i)}.{i.extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.data)
    return root


def _scan(root, **kw):
    kw.setdefault("classification", "multiclass")
    return scan_local("directory", root, label=root.name, **kw)[0]


@pytest.fixture
def tree(tmp_path):
    return _write_tree(tmp_path / "digits", digit_images(20, LABELS))


def test_counts_per_label_and_split(tree):
    m = _scan(tree, use_cache=False)
    assert m.labels == ("one", "two", "zero")
    for counts in m.label_counts.values():
        assert dict(counts) == {"TRAIN": 16, "VALIDATION": 2, "TEST": 2}
    assert all(
        e.object_name == f"images/{e.sha256}.{e.format.lower().replace('jpeg', 'jpg')}"
        for e in m.entries
    )


def test_renaming_files_keeps_the_fingerprint(tmp_path):
    a = _scan(_write_tree(tmp_path / "a", digit_images(20, LABELS)), use_cache=False)
    b = _scan(
        _write_tree(tmp_path / "b", digit_images(20, LABELS), rename=lambda i: f"img_{i.index}"),
        use_cache=False,
    )
    assert a.fingerprint == b.fingerprint
    assert [e.split for e in a.entries] == [e.split for e in b.entries]


def test_one_changed_pixel_changes_the_fingerprint(tmp_path, tree):
    before = _scan(tree, use_cache=False)
    from PIL import Image

    victim = next(p for p in sorted(tree.rglob("*.png")))
    img = Image.open(victim).convert("RGB")
    r, g, b = img.getpixel((0, 0))
    img.putpixel((0, 0), ((r + 1) % 256, g, b))
    img.save(victim)
    after = _scan(tree, use_cache=False)
    assert after.fingerprint != before.fingerprint
    assert len(after.entries) == len(before.entries)


def test_split_depends_on_the_seed_and_is_reproducible(tree):
    a = _scan(tree, use_cache=False)
    again = _scan(tree, use_cache=False)
    other = _scan(tree, split=SplitSpec(seed=1), use_cache=False)
    assert [e.split for e in a.entries] == [e.split for e in again.entries]
    assert [e.split for e in a.entries] != [e.split for e in other.entries]
    assert a.fingerprint != other.fingerprint


def test_too_few_images_and_labels_are_errors(tmp_path):
    root = _write_tree(tmp_path / "small", digit_images(9, ("zero",)))
    with pytest.raises(DatasetError) as info:
        _scan(root, use_cache=False)
    assert str(info.value).splitlines() == [
        "small: has 1 label(s) (zero); a classification dataset needs at least 2",
        "small: label 'zero' has 9 image(s); each label needs at least 10 (preferably 100 or more)",
    ]
    _write_tree(root, digit_images(12, ("one",)))
    with pytest.raises(DatasetError) as info:
        _scan(root, use_cache=False)
    assert str(info.value) == (
        "small: label 'zero' has 9 image(s); each label needs at least 10 (preferably 100 or more)"
    )


def test_fewer_than_100_images_per_label_is_a_warning(tree):
    m = _scan(tree, use_cache=False)
    assert "digits: label 'zero' has 20 images; 100 or more per label is recommended" in m.warnings


def test_label_with_a_hyphen_is_refused(tmp_path):
    root = _write_tree(tmp_path / "d", digit_images(10, ("zero", "one")))
    os.rename(root / "one", root / "not-one")
    with pytest.raises(DatasetError) as info:
        _scan(root, use_cache=False)
    assert "label 'not-one' is not allowed; labels are 1–32 characters of A–Z" in str(info.value)


def test_same_image_under_two_labels(tmp_path):
    images = digit_images(10, ("zero", "one"))
    root = _write_tree(tmp_path / "d", images)
    dup = images[0]
    (root / "one" / f"copy.{dup.extension}").write_bytes(dup.data)
    with pytest.raises(DatasetError) as info:
        _scan(root, use_cache=False)
    assert f"has the same content as d/one/copy.{dup.extension} but label(s) zero vs one" in str(
        info.value
    )
    assert "a multiclass dataset allows one label per image" in str(info.value)
    multilabel = _scan(root, classification="multilabel", use_cache=False)
    shared = next(e for e in multilabel.entries if e.sha256 == multilabel.entries[0].sha256)
    assert any(e.labels == ("one", "zero") for e in multilabel.entries), shared
    assert any("repeat the content of another file" in w for w in multilabel.warnings)


def test_unlabeled_images_with_a_labels_file(tmp_path):
    images = digit_images(10, ("zero", "one"))
    root = tmp_path / "unlabeled"
    root.mkdir()
    rows = ["path,label"]
    for i in images:
        (root / f"{i.index}.{i.extension}").write_bytes(i.data)
        rows.append(f"{i.index}.{i.extension},{i.label}")
    extra = digit_images(11, ("two",))[-1]
    (root / f"{extra.index}.{extra.extension}").write_bytes(extra.data)  # stays unlabeled
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    m, _ = scan_local(
        "images", root, classification="multiclass", labels_file=labels, use_cache=False
    )
    assert m.labels == ("one", "zero") and len(m.entries) == 20
    assert any("1 image(s) have no label and are not imported" in w for w in m.warnings)
    labels.write_text("path,label\nmissing.png,zero\n")
    with pytest.raises(DatasetError) as info:
        scan_local("images", root, classification="multiclass", labels_file=labels)
    assert "labels.csv: names 'missing.png', which is not in" in str(info.value)


def test_unchanged_files_are_not_read_again(tmp_path, tree, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    checked = []
    real = manifest_module.check_image
    monkeypatch.setattr(
        manifest_module, "check_image", lambda data, name: checked.append(name) or real(data, name)
    )
    first = _scan(tree)
    assert len(checked) == 60
    checked.clear()
    second = _scan(tree)
    assert checked == [] and second.fingerprint == first.fingerprint
    touched = sorted((tree / "one").glob("*.png"))[0]
    touched.write_bytes(touched.read_bytes())  # same bytes, new mtime: re-read, same fingerprint
    third = _scan(tree)
    assert checked == [f"one/{touched.name}"] and third.fingerprint == first.fingerprint


def test_csv_index_roundtrip_and_errors(tree):
    m = _scan(tree, use_cache=False)
    text = write_index("bkt", m.entries)
    rows = parse_index(text, "index.csv")
    assert len(rows) == 60 and {r.ml_use for r in rows} == {"TRAIN", "VALIDATION", "TEST"}
    bad = "TRAIN,gs://bkt/a.png,zero\nnot-a-uri,zero\nUNASSIGNED,gs://bkt/b.png,bad-label\n,\n"
    with pytest.raises(DatasetError) as info:
        parse_index(bad, "gs://bkt/index.csv")
    assert str(info.value).splitlines() == [
        "gs://bkt/index.csv:2: 'not-a-uri' is not a Cloud Storage URI of the form gs://bucket/object",
        "gs://bkt/index.csv:3: label 'bad-label' is not allowed; labels are 1–32 characters of "
        "A–Z, a–z, 0–9 and _",
    ]


@pytest.mark.parametrize(
    ("fmt", "save_as", "mode"),
    [
        ("JPEG", "JPEG", "RGB"),
        ("PNG", "PNG", "RGB"),
        ("GIF", "GIF", "P"),
        ("BMP", "BMP", "RGB"),
        ("ICO", "ICO", "RGBA"),
        ("WEBP", "WEBP", "RGB"),
        ("TIFF", "TIFF", "RGB"),
        ("TIFF", "TIFF", "I;16B"),  # Pillow writes this mode big-endian (MM)
        ("JPEG", "MPO", "RGB"),
    ],
)
def test_the_format_by_signature_is_the_one_pillow_decodes(fmt, save_as, mode):
    """A cold check of vouched-for content names each image's format by its signature
    (images.format_by_signature), without Pillow: it must name the format Pillow's full
    check does, for every allowed format."""
    buf = io.BytesIO()
    image = Image.new(mode, (16, 16))
    if save_as == "MPO":
        image.save(buf, "MPO", save_all=True, append_images=[Image.new(mode, (16, 16))])
    else:
        image.save(buf, save_as)
    data = buf.getvalue()
    assert check_image(data, "x").format == fmt
    assert format_by_signature(data) == fmt


@pytest.mark.parametrize(
    "data", [b"", b"GIF8", b"RIFF\0\0\0\0WAVE", b"\0\0\2\0cursor", b"%PDF-1.7", b"hello"]
)
def test_no_format_by_signature_for_what_is_not_an_allowed_image(data):
    assert format_by_signature(data) is None
