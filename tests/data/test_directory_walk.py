"""The stat walk of a directory source (archive.walk_directory): what it lists, skips and refuses.

A no-op check answers from this walk alone (its names and stamps key the cached summary), so
every kind of entry a folder can hold is pinned here, and every change to a file must change
the walk.
"""

import os
import shutil

import pytest

from components.data.archive import Limits, walk_directory
from components.data.cache import file_stamp
from components.data.errors import DatasetError


def _file(path, data=b"\x89PNG\r\n\x1a\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path):
    """Label folders of plain files, and one of each other kind of entry."""
    root = tmp_path / "digits"
    for label in ("one", "two", "zero"):
        for n in (2, 0, 1):  # written out of order: the walk sorts by name
            _file(root / label / f"{n:04d}.png")
    _file(root / "two" / "deep" / "0000.png")  # nested: listed (the layout check refuses it)
    _file(root / "zero" / ".DS_Store")
    _file(root / "zero" / "Thumbs.DB")  # system files compare lower-case
    _file(root / ".git" / "HEAD")
    _file(root / "__MACOSX" / "zero" / "._0000.png")
    os.mkfifo(root / "one" / "fifo.png")  # neither a file nor a folder: not listed
    with open(root / "one" / "big.png", "wb") as fh:  # sparse: 31 MB declared, none written
        fh.truncate(31 * 1024 * 1024)
    outside = _file(tmp_path / "outside" / "0000.png").parent
    os.symlink(outside, root / "one" / "linked")  # a link to a folder
    os.symlink(outside, root / ".hidden-link")  # hidden: skipped as a folder, not refused
    os.symlink(outside / "0000.png", root / "two" / "link.png")
    os.symlink(root / "missing.png", root / "two" / "broken.png")
    return root


def test_the_walk_lists_plain_files_sorted_and_skips_or_refuses_the_rest(tree):
    walk = walk_directory(tree, "digits")
    assert walk.names == [
        "one/0000.png",
        "one/0001.png",
        "one/0002.png",
        "two/0000.png",
        "two/0001.png",
        "two/0002.png",
        "two/deep/0000.png",
        "zero/0000.png",
        "zero/0001.png",
        "zero/0002.png",
    ]
    assert walk.stamps == [file_stamp(os.lstat(tree / name)) for name in walk.names]
    assert walk.skipped == [
        ".git/",
        ".hidden-link/",
        "__MACOSX/",
        "zero/.DS_Store",
        "zero/Thumbs.DB",
    ]
    assert [(p.where, p.rule) for p in walk.problems] == [
        ("digits/one/linked", "symlink"),
        ("digits/one/big.png", "size"),
        ("digits/two/broken.png", "symlink"),
        ("digits/two/link.png", "symlink"),
    ]


def test_a_folder_of_plain_files_alone_is_listed_alike(tmp_path):
    root = tmp_path / "digits"
    for label in ("one", "zero"):
        for n in range(3):
            _file(root / label / f"{n:04d}.png", bytes([n]) * (n + 1))
    walk = walk_directory(root, "digits")
    assert walk.names == [f"{label}/{n:04d}.png" for label in ("one", "zero") for n in range(3)]
    assert walk.stamps == [file_stamp(os.lstat(root / name)) for name in walk.names]
    assert walk.skipped == [] and walk.problems == []


def _sparse(path, size=31 * 1024 * 1024):
    with open(path, "wb") as fh:
        fh.truncate(size)


@pytest.mark.parametrize(
    ("name", "make", "skipped", "problem", "listed"),
    [
        (".DS_Store", _file, ["one/.DS_Store"], None, []),
        ("Desktop.INI", _file, ["one/Desktop.INI"], None, []),
        ("big.png", _sparse, [], ("digits/one/big.png", "size"), []),
        ("fifo.png", os.mkfifo, [], None, []),
        (
            "link.png",
            lambda p: os.symlink("0000.png", p),
            [],
            ("digits/one/link.png", "symlink"),
            [],
        ),
        ("sub", lambda p: _file(p / "0000.png"), [], None, ["one/sub/0000.png"]),
    ],
)
def test_one_other_entry_among_plain_files(tmp_path, name, make, skipped, problem, listed):
    root = tmp_path / "digits"
    for n in range(3):
        _file(root / "one" / f"{n:04d}.png")
    make(root / "one" / name)
    walk = walk_directory(root, "digits")
    assert walk.names == ["one/0000.png", "one/0001.png", "one/0002.png", *listed]
    assert walk.skipped == skipped
    assert [(p.where, p.rule) for p in walk.problems] == ([problem] if problem else [])


def test_more_files_than_the_limit_are_refused(tree):
    with pytest.raises(DatasetError, match="has over 4 files; at most 4 are allowed"):
        walk_directory(tree, "digits", Limits(max_files=4))


def _past_the_timestamp_tick(path, probe):
    """Waits until a change now gets another ctime than `path` has: the file system's clock
    ticks coarsely, and a change within the tick of the file's last one is invisible to any
    stamp (git's "racily clean" files; the upload's verified read catches those)."""
    ctime = os.stat(path).st_ctime_ns
    while True:
        probe.write_bytes(b"")
        if os.stat(probe).st_ctime_ns > ctime:
            return


def _edit(path):
    with open(path, "r+b") as fh:
        fh.write(b"\0")


def _grow(path):
    with open(path, "ab") as fh:
        fh.write(b"\0")


def _back_in_time(path):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))


def _same_bytes_and_times_new_inode(path):
    copy = path.with_name("copy.tmp")
    shutil.copy2(path, copy)  # same bytes, size and mtime
    os.replace(copy, path)


def _chmod(path):
    os.chmod(path, 0o600)  # only the ctime changes


def _edit_with_the_old_mtime(path):
    st = os.stat(path)
    _edit(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or `rsync -t` would


def _rename(path):
    path.rename(path.with_name("9999.png"))


def _remove(path):
    path.unlink()


def _add(path):
    _file(path.with_name("9999.png"))


@pytest.mark.parametrize(
    "change",
    [
        _edit,
        _grow,
        _back_in_time,
        _same_bytes_and_times_new_inode,
        _chmod,
        _edit_with_the_old_mtime,
        _rename,
        _remove,
        _add,
    ],
)
def test_every_change_to_a_file_changes_the_walk(tmp_path, change):
    root = tmp_path / "digits"
    for label in ("one", "zero"):
        for n in range(3):
            _file(root / label / f"{n:04d}.png", bytes([n]) * 100)
    before = walk_directory(root, "digits")
    _past_the_timestamp_tick(root / "one" / "0001.png", tmp_path / "probe")
    change(root / "one" / "0001.png")
    after = walk_directory(root, "digits")
    assert (after.names, after.stamps) != (before.names, before.stamps)


def test_a_file_removed_between_the_listing_and_its_stat_is_not_listed(tmp_path, monkeypatch):
    root = tmp_path / "digits"
    for n in range(3):
        _file(root / "one" / f"{n:04d}.png")
    listdir = os.listdir
    # What a listing taken just before `gone.png` was deleted holds.
    monkeypatch.setattr(os, "listdir", lambda fd: [*listdir(fd), "gone.png"])
    walk = walk_directory(root, "digits")
    assert walk.names == ["one/0000.png", "one/0001.png", "one/0002.png"]
    assert walk.problems == [] and walk.skipped == []
