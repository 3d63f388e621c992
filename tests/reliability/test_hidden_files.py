"""People's image folders hold .git, .DS_Store, __MACOSX/ and Thumbs.db: skipped with a note."""

import zipfile

import pytest

from components.data.manifest import scan_local
from tests.fixtures.digits import digit_images

LABELS = ("zero", "one")
# What a Mac, Windows and git leave in an image folder (name → bytes).
LITTER = {
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".git/config": b"[core]\n",
    ".git/objects/ab/cdef0123": b"\x78\x01blob",
    ".DS_Store": b"\0\0\0\1Bud1",
    "zero/.DS_Store": b"\0\0\0\1Bud1",
    "zero/._0000.png": b"\0\5\26\7AppleDouble",
    "one/Thumbs.db": b"\xd0\xcf\x11\xe0",
    "one/.hidden/notes.txt": b"not an image\n",
}
# The same, as units: a hidden folder is one entry, not every file in it.
SKIPPED = [
    ".DS_Store",
    ".git/",
    "one/.hidden/",
    "one/Thumbs.db",
    "zero/.DS_Store",
    "zero/._0000.png",
]


def _images(root_folder=""):
    return {
        f"{root_folder}{i.label}/{i.index:04d}.{i.extension}": i.data
        for i in digit_images(10, LABELS)
    }


def _write_tree(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _note(manifest) -> str:
    (note,) = [w for w in manifest.warnings if "hidden or system" in w]
    return note


def test_a_directory_with_git_and_os_litter_is_checked_without_them(tmp_path):
    root = _write_tree(tmp_path / "digits", {**_images(), **LITTER})
    manifest, _ = scan_local("directory", root, classification="multiclass", use_cache=False)
    assert len(manifest.entries) == 20 and manifest.labels == ("one", "zero")
    note = _note(manifest)
    assert note == f"{root}: skipped {len(SKIPPED)} hidden or system entries " + (
        "(.DS_Store, .git/, one/.hidden/, …)"
    )


def test_a_zip_with_macosx_and_git_litter_is_checked_without_them(tmp_path):
    files = {
        **_images("my_dataset/"),
        **{f"my_dataset/{k}": v for k, v in LITTER.items()},
        "__MACOSX/my_dataset/zero/._0000.png": b"\0\5\26\7AppleDouble",
        "__MACOSX/my_dataset/._zero": b"\0\5\26\7AppleDouble",
    }
    path = tmp_path / "digits.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    manifest, _ = scan_local("zip", path, classification="multiclass", use_cache=False)
    assert len(manifest.entries) == 20
    note = _note(manifest)
    assert note == (
        f"{path}: skipped {len(SKIPPED) + 1} hidden or system entries "
        "(__MACOSX/, my_dataset/.DS_Store, my_dataset/.git/, …)"
    )


@pytest.mark.parametrize("kind", ["images-directory", "images-zip"])
def test_unlabeled_images_with_litter_are_checked_without_it(tmp_path, kind):
    images = {f"{i.index:04d}.{i.extension}": i.data for i in digit_images(10, LABELS)}
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,label\n"
        + "".join(f"{i.index:04d}.{i.extension},{i.label}\n" for i in digit_images(10, LABELS))
    )
    files = {**images, ".git/HEAD": b"ref: refs/heads/main\n", ".DS_Store": b"\0\0\0\1Bud1"}
    if kind == "images-directory":
        source = _write_tree(tmp_path / "unlabeled", files)
    else:
        source = tmp_path / "unlabeled.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    manifest, _ = scan_local(
        "images", source, classification="multiclass", labels_file=labels, use_cache=False
    )
    assert len(manifest.entries) == 20
    assert _note(manifest) == f"{source}: skipped 2 hidden or system entries (.DS_Store, .git/)"
