"""A corpus of hostile archives: each is refused with a clear error naming the entry and rule."""

import io
import os
import stat
import zipfile

import pytest
from PIL import Image

from components.data.errors import DatasetError
from components.data.manifest import scan_local
from tests.fixtures.digits import digit_images


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:  # name: str or ZipInfo (for symlink entries)
            zf.writestr(name, data)
    return path


def _good_entries(labels=("zero", "one"), per_label=10):
    return [
        (f"{i.label}/{i.index:04d}.{i.extension}", i.data) for i in digit_images(per_label, labels)
    ]


def _scan(path, kind="zip"):
    return scan_local(kind, path, classification="multiclass", label=path.name, use_cache=False)[0]


def _errors(path, kind="zip") -> str:
    with pytest.raises(DatasetError) as info:
        _scan(path, kind)
    return str(info.value)


def _bomb_zip(path, size):
    chunk = b"\0" * (16 * 1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("zero/bomb.png", "w", force_zip64=True) as fh,
    ):
        for _ in range(size // len(chunk)):
            fh.write(chunk)
    return path


def test_the_good_archive_is_accepted(tmp_path):
    manifest = _scan(_zip(tmp_path / "ok.zip", _good_entries()))
    assert len(manifest.entries) == 20


def test_path_traversal_is_refused(tmp_path):
    path = _zip(tmp_path / "t.zip", [*_good_entries(), ("../../etc/evil.png", b"x")])
    assert "t.zip:../../etc/evil.png: entry name climbs out of the archive with '..'" in _errors(
        path
    )


def test_absolute_path_is_refused(tmp_path):
    path = _zip(tmp_path / "a.zip", [*_good_entries(), ("/etc/passwd", b"x")])
    assert "a.zip:/etc/passwd: entry name is an absolute path; refused" in _errors(path)


def test_symlink_in_zip_is_refused(tmp_path):
    link = zipfile.ZipInfo("zero/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip(tmp_path / "s.zip", [*_good_entries(), (link, "/etc/passwd")])
    assert "s.zip:zero/link.png: is a symbolic link; links are refused" in _errors(path)


def test_symlink_in_directory_is_refused(tmp_path):
    root = tmp_path / "dir"
    for name, data in _good_entries():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    os.symlink("/etc/passwd", root / "zero" / "passwd.png")
    message = _errors(root, "directory")
    assert "dir/zero/passwd.png: is a symbolic link; links are refused" in message


def test_ten_thousand_empty_files_are_reported_compactly(tmp_path):
    entries = [(f"zero/{i:05d}.png", b"") for i in range(10_000)]
    message = _errors(_zip(tmp_path / "empty.zip", entries))
    assert "empty.zip:zero/00000.png: is an empty file; images must be one of JPEG, PNG" in message
    assert "… and 9995 more with the same problem (image)" in message
    assert len(message.splitlines()) == 6  # 5 examples + the count, not 10,000 lines


def test_gigabyte_bomb_is_refused_without_inflating(tmp_path):
    message = _errors(_bomb_zip(tmp_path / "bomb.zip", 1024**3))
    assert "bomb.zip:zero/bomb.png: is 1024.0 MB; each image must be 30 MB or smaller" in message


def test_high_ratio_entry_under_the_size_limit_is_a_bomb(tmp_path):
    message = _errors(_bomb_zip(tmp_path / "small-bomb.zip", 16 * 1024**2))
    assert "small-bomb.zip:zero/bomb.png: inflates" in message
    assert "refused as a zip bomb" in message


def test_corrupt_jpeg_is_refused(tmp_path):
    jpeg = next(i for i in digit_images(10, ("zero",)) if i.format == "JPEG")
    path = _zip(tmp_path / "c.zip", [*_good_entries(), ("zero/broken.jpg", jpeg.data[:300])])
    assert "c.zip:zero/broken.jpg: cannot be decoded" in _errors(path)


def test_gif_named_png_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "GIF")
    path = _zip(tmp_path / "g.zip", [*_good_entries(), ("one/red.png", buf.getvalue())])
    assert "g.zip:one/red.png: is a GIF image but its name ends in .png; name it .gif" in _errors(
        path
    )


def test_text_file_named_jpg_is_refused(tmp_path):
    path = _zip(tmp_path / "x.zip", [*_good_entries(), ("one/notes.jpg", b"just some text\n")])
    assert "x.zip:one/notes.jpg: is not an image; images must be one of" in _errors(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "plain.zip"
    path.write_text("hello")
    assert "plain.zip: is not a readable zip archive" in _errors(path)


def test_files_outside_label_folders_are_reported(tmp_path):
    path = _zip(tmp_path / "l.zip", [*_good_entries(), ("readme.png", b"x")])
    assert (
        "l.zip:readme.png: is not inside a label folder; the structured layout is <label>/<image>"
        in _errors(path)
    )


# --- members whose bytes cannot be read as the central directory describes them ---------
# zipfile's own errors for these (BadZipFile, RuntimeError, NotImplementedError) are not
# ValueErrors: they escaped the scan as tracebacks instead of naming the member.


def _patched(path, member, *, data_xor_at=None, flag=0, method=None, file_size=None):
    """`path` with `member` altered in place: a data byte flipped, a general purpose flag
    set, the compression method or the declared size changed (local and central header)."""
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo(member)
    local = info.header_offset
    central = raw.find(b"PK\x01\x02")
    while central >= 0:
        name_length = int.from_bytes(raw[central + 28 : central + 30], "little")
        if raw[central + 46 : central + 46 + name_length] == member.encode():
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    assert central >= 0
    if data_xor_at is not None:
        start = local + 30 + int.from_bytes(raw[local + 26 : local + 28], "little")
        start += int.from_bytes(raw[local + 28 : local + 30], "little")
        raw[start + data_xor_at] ^= 0xFF
    for flags_at, method_at, size_at in (
        (local + 6, local + 8, local + 22),
        (central + 8, central + 10, central + 24),
    ):
        raw[flags_at] |= flag
        if method is not None:
            raw[method_at : method_at + 2] = method.to_bytes(2, "little")
        if file_size is not None:
            raw[size_at : size_at + 4] = file_size.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def _one_member(tmp_path, name, compression=zipfile.ZIP_DEFLATED):
    entries = _good_entries()
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression) as zf:
        for member, data in entries:
            zf.writestr(member, data)
    return path, entries[3][0]


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_member_whose_bytes_fail_the_crc_is_refused_by_name(tmp_path, compression):
    path, member = _one_member(tmp_path, "crc.zip", compression)
    message = _errors(_patched(path, member, data_xor_at=5))
    assert f"crc.zip:{member}: cannot be read (its bytes do not match the archive's size and " in (
        message
    )
    assert "the archive is corrupt" in message


def test_an_encrypted_member_is_refused_before_it_is_read(tmp_path):
    path, member = _one_member(tmp_path, "enc.zip")
    message = _errors(_patched(path, member, flag=0x1))
    assert f"enc.zip:{member}: is encrypted; encrypted archives are not read" in message


def test_a_member_compressed_with_an_unknown_method_is_refused(tmp_path):
    path, member = _one_member(tmp_path, "m.zip")
    message = _errors(_patched(path, member, method=9))  # deflate64: zipfile cannot read it
    assert f"m.zip:{member}: is compressed with method 9, which is not read; allowed: " in message
    assert "store, deflate, bzip2, lzma" in message


def test_a_member_that_inflates_past_its_declared_size_is_refused(tmp_path):
    path, member = _one_member(tmp_path, "lie.zip")
    message = _errors(_patched(path, member, file_size=100))
    assert f"lie.zip:{member}: cannot be read (its bytes do not match the archive's size" in (
        message
    )


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_members_of_every_read_method_are_read_byte_for_byte(tmp_path, compression):
    path, _ = _one_member(tmp_path, "ok.zip", compression)
    manifest, items = scan_local(
        "zip", path, classification="multiclass", label="ok.zip", use_cache=False
    )
    assert len(manifest.entries) == 20
    by_name = dict(_good_entries())
    assert {name: items[name].read() for name in items} == by_name
