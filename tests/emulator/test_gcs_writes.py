"""Cloud Storage writes on the emulator: side by side, conditional, atomic across kill -9,
and a round-trip delay to measure against (emulator/gcs.py, emulator/core/persistence.py)."""

import base64
import hashlib
import signal
import socket
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from gcp_storage_emulator.exceptions import NotFound as GcsNotFound
from gcp_storage_emulator.handlers.objects import _checksums, _make_object_resource
from google.api_core import exceptions

from emulator import gcs
from emulator.core.errors import InvalidArgument
from emulator.core.faults import FaultInjector
from emulator.gcs import COMMIT_STEP
from emulator.gcs_storage import PACK_LIMIT, DurableStorage
from tests.fixtures.emulator import (
    HANG_GUARD_S,
    arm_fault,
    clear_faults,
    start_cli,
    storage_client,
    wait_until_held,
)


def _bucket(env):
    return storage_client(env).create_bucket(f"gcs-{uuid.uuid4().hex[:12]}")


def _media_upload_head(bucket: str, name: str, netloc: str, headers: str) -> bytes:
    """The head of a media upload (`uploadType=media`) of `name`, with `headers` (CRLF-ended
    lines) after Host."""
    query = urllib.parse.urlencode({"uploadType": "media", "name": name})
    return (
        f"POST /upload/storage/v1/b/{bucket}/o?{query} HTTP/1.1\r\nHost: {netloc}\r\n{headers}\r\n"
    ).encode()


def _stalled_upload(env, bucket: str, name: str, announced: int, sent: bytes) -> socket.socket:
    """A media upload whose body stops after `sent` of `announced` bytes (a slow link)."""
    url = urllib.parse.urlparse(env["STORAGE_EMULATOR_HOST"])
    conn = socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S)
    head = _media_upload_head(
        bucket,
        name,
        url.netloc,
        f"Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n",
    )
    conn.sendall(head + sent)
    return conn


def test_an_upload_whose_body_is_still_arriving_does_not_hold_up_other_uploads(emulator):
    """The storage lock used to be held from a request's first byte to its answer: one slow
    upload stopped every other upload (and every other call) until its body arrived."""
    env = emulator.env
    bucket = _bucket(env)
    body = b"slow" * 1000
    slow = _stalled_upload(env, bucket.name, "slow.bin", len(body), body[:10])
    try:
        # Answered while the slow upload still waits for its body (the guard ends a hang).
        bucket.blob("fast.bin").upload_from_string(b"fast", timeout=HANG_GUARD_S, retry=None)
        assert bucket.blob("fast.bin").download_as_bytes() == b"fast"
        slow.sendall(body[10:])
        assert slow.recv(12).endswith(b" 200")
    finally:
        slow.close()
    assert bucket.blob("slow.bin").download_as_bytes() == body


def test_if_generation_match_zero_creates_only_what_does_not_exist(emulator):
    """The package ignored ifGenerationMatch: a conditional create overwrote the object."""
    bucket = _bucket(emulator.env)
    blob = bucket.blob("images/abc.png")
    blob.upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("images/abc.png").upload_from_string(b"second", if_generation_match=0)
    generation = bucket.get_blob("images/abc.png").generation
    assert bucket.blob("images/abc.png").download_as_bytes() == b"first"
    # A matching generation replaces it; a stale one is refused.
    bucket.blob("images/abc.png").upload_from_string(b"third", if_generation_match=generation)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("images/abc.png").upload_from_string(b"fourth", if_generation_match=generation)
    assert bucket.blob("images/abc.png").download_as_bytes() == b"third"
    # Resumable uploads (large objects) check it too.
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("images/abc.png", chunk_size=256 * 1024).upload_from_string(
            b"x" * (300 * 1024), if_generation_match=0
        )
    assert bucket.blob("images/abc.png").download_as_bytes() == b"third"


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "content files"])
def test_kill_9_leaves_each_object_old_or_new_never_torn(tmp_path, packed):
    """Writes are appended to the bucket's pack (small contents) or renamed into place (larger
    ones) before they are acknowledged, and synced in a group (no fsync per object): after
    kill -9 an acknowledged write is there, and a write whose content was appended or staged
    but not committed (held at COMMIT_STEP) or whose body was still arriving left the old
    object, and no partial file."""
    data_dir = tmp_path / "data"
    process, env = start_cli(data_dir, tmp_path / "first.log")
    try:
        bucket = _bucket(env)
        old = bytes(range(256)) * (64 if packed else PACK_LIMIT // 256 + 1)
        bucket.blob("staged.bin").upload_from_string(old)
        bucket.blob("arriving.bin").upload_from_string(old)
        new = old[::-1] * 2
        bucket.blob("acknowledged.bin").upload_from_string(old)
        bucket.blob("acknowledged.bin").upload_from_string(new)  # answered: must survive

        arm_fault(env, COMMIT_STEP, "HOLD")
        staged_failure: list[BaseException] = []

        def upload_held() -> None:
            try:
                bucket.blob("staged.bin").upload_from_string(new, retry=None)
            except BaseException as exc:  # the connection dies with the emulator
                staged_failure.append(exc)

        packs = list((data_dir / "gcs").rglob("*.pack"))
        before = [pack.stat().st_size for pack in packs]
        held = threading.Thread(target=upload_held, daemon=True)
        held.start()
        wait_until_held(env, COMMIT_STEP)
        grown = [pack.stat().st_size - size for pack, size in zip(packs, before, strict=True)]
        if packed:
            assert grown == [len(new)], "content appended, no record yet"
        else:
            assert list((data_dir / "gcs").rglob("*.emulator-partial")), "content staged"
        arriving = _stalled_upload(env, bucket.name, "arriving.bin", len(new), new[:100])
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=HANG_GUARD_S)
    arriving.close()
    held.join(HANG_GUARD_S)

    process, env = start_cli(data_dir, tmp_path / "second.log")
    try:
        client = storage_client(env)
        again = client.bucket(bucket.name)
        # Downloads verify the stored checksum of what they read: no torn content passes.
        assert again.blob("acknowledged.bin").download_as_bytes() == new
        assert again.blob("staged.bin").download_as_bytes() == old
        assert again.blob("arriving.bin").download_as_bytes() == old
        listed = {b.name: b for b in client.list_blobs(bucket.name)}
        assert set(listed) == {"acknowledged.bin", "staged.bin", "arriving.bin"}
        md5 = base64.b64encode(hashlib.md5(new).digest()).decode()
        assert listed["acknowledged.bin"].md5_hash == md5
        assert not list((data_dir / "gcs").rglob("*.emulator-partial"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=HANG_GUARD_S)


def test_a_delay_fault_makes_calls_wait_and_go_on_until_cleared(emulator_factory):
    """`storage.*=DELAY:40ms` (environment form) puts a round trip in front of every storage
    call, as a real link would; with a count only the next N calls wait."""
    faults = FaultInjector()
    (delay,) = faults.arm_from_spec("storage.*=DELAY:40ms")
    assert (delay.method, delay.effect, delay.delay, delay.remaining) == (
        "storage.*",
        "DELAY",
        0.04,
        0,
    )
    assert faults.arm_from_spec("GetDataset=DELAY:1.5s:2:after")[0].to_json() == {
        "method": "GetDataset",
        "effect": "DELAY",
        "remaining": 2,
        "message": "fault injected by the emulator: DELAY after processing for GetDataset",
        "after": True,
        "delay": "1500ms",
    }
    for bad in ("storage.*=DELAY", "storage.*=DELAY:40", "storage.*=DELAY:fast:2"):
        with pytest.raises(InvalidArgument, match=r"write it as 40ms or 1\.5s"):
            faults.arm_from_spec(bad)

    server = emulator_factory()
    env = server.env
    bucket = _bucket(env)
    server.faults.arm_from_spec("storage.*=DELAY:40ms")
    started = time.monotonic()
    bucket.blob("a.txt").upload_from_string(b"a")
    assert bucket.blob("a.txt").download_as_bytes() == b"a"
    assert time.monotonic() - started >= 2 * 0.04  # a lower bound: sleeping is never faster
    assert [f.method for f in server.faults.armed()] == ["storage.*"]  # until cleared
    clear_faults(env)
    server.faults.arm("storage.objects.get", "DELAY", count=1, delay=0.01)
    assert bucket.blob("a.txt").download_as_bytes() == b"a"
    assert server.faults.armed() == []  # the one delayed call used it up


def test_delayed_calls_wait_on_the_listeners_thread_not_on_a_thread_each(emulator_factory):
    """A DELAY is a link's round trip, not work: each delayed call (uploads too: the commit
    step's wildcard match sent them to a thread) waited on a worker thread of its own, and
    those threads passed the GIL around (10,000 uploads behind 40 ms: 17-19 s of the
    emulator's CPU, 12-13 s now). The listener answers them once their delay has passed, and
    each call uses one of a counted delay."""
    server = emulator_factory()
    bucket = _bucket(server.env)
    server.faults.arm_from_spec("storage.*=DELAY:10ms")
    before = set(threading.enumerate())
    names = [f"{i}.txt" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: bucket.blob(name).upload_from_string(name.encode()), names))
        assert list(pool.map(lambda name: bucket.blob(name).download_as_bytes(), names)) == [
            name.encode() for name in names
        ]
    started = [t.name for t in set(threading.enumerate()) - before]
    assert not [name for name in started if name.startswith("gcs-http-call")], started
    server.faults.clear()
    server.faults.arm("storage.objects.insert", "DELAY", count=3, delay=0.01)
    bucket.blob("a.txt").upload_from_string(b"a")
    bucket.blob("b.txt").upload_from_string(b"b")
    assert [f.remaining for f in server.faults.armed()] == [1]


def test_a_stopped_emulator_answers_no_request_on_a_kept_alive_connection(emulator_factory):
    """Connections are kept alive between requests: after stop() a client's pooled connection
    must fail, not be served by the stopped instance (which may share a data dir with the
    next)."""
    server = emulator_factory()
    url = server.env["STORAGE_EMULATOR_HOST"]
    with requests.Session() as session:
        assert session.get(f"{url}/storage/v1/b?project=p", timeout=HANG_GUARD_S).ok
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/storage/v1/b?project=p", timeout=HANG_GUARD_S)


def test_answers_are_not_held_back_by_nagles_algorithm(emulator):
    """An answer is written as headers, then body: with Nagle's algorithm on the emulator's
    socket, the body waited for the client's delayed ACK (up to 40 ms) on every request of a
    kept-alive connection (2,000 uploads on 4 connections: 81 per second, then 300)."""
    bucket = _bucket(emulator.env)
    bucket.blob("a.txt").upload_from_string(b"a")  # a kept-alive connection is open now
    connections = emulator.gcs._httpd.connections()
    assert connections
    for connection in connections:
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_multipart_upload_whose_md5_is_not_its_bodys_is_refused_and_stores_nothing(emulator):
    bucket = _bucket(emulator.env)
    blob = bucket.blob("checked.txt")
    blob.md5_hash = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with pytest.raises(exceptions.BadRequest, match="MD5"):
        blob.upload_from_string(b"these bytes")
    assert bucket.get_blob("checked.txt") is None
    blob = bucket.blob("named.bin")
    blob.metadata = {"origin": "test"}
    blob.upload_from_string(b"\r\n--x--\r\n", content_type="application/x-thing")
    stored = bucket.get_blob("named.bin")
    assert (stored.content_type, stored.metadata) == ("application/x-thing", {"origin": "test"})
    assert stored.download_as_bytes() == b"\r\n--x--\r\n"


def _raw_exchange(env, request: bytes, answers: int = 1) -> list[tuple[str, bytes]]:
    """Sends `request` bytes on a new connection; the status line and body of each answer."""
    url = urllib.parse.urlparse(env["STORAGE_EMULATOR_HOST"])
    with socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S) as conn:
        conn.sendall(request)
        reader = conn.makefile("rb")
        out = []
        for _ in range(answers):
            status = reader.readline().decode().rstrip("\r\n")
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            out.append((status, reader.read(length)))
        return out


def test_an_upload_that_expects_100_continue_gets_it_before_it_sends_its_body(emulator):
    """curl and others send `Expect: 100-continue` and wait for the interim answer before
    the body: answers are buffered and sent when complete, and this one must not wait."""
    env = emulator.env
    bucket = _bucket(env)
    url = urllib.parse.urlparse(env["STORAGE_EMULATOR_HOST"])
    body = b"after the interim answer"
    with socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S) as conn:
        conn.sendall(
            _media_upload_head(
                bucket.name,
                "continued.bin",
                url.netloc,
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n",
            )
        )
        reader = conn.makefile("rb")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"  # a hang guard, not a timing
        conn.sendall(body)
        while reader.readline() not in (b"\r\n", b""):  # the interim answer's end
            pass
        assert reader.readline().startswith(b"HTTP/1.1 200")
    assert bucket.blob("continued.bin").download_as_bytes() == body


def test_requests_on_one_connection_are_each_answered_and_headers_are_read_as_http_says(
    emulator,
):
    """Headers are read line by line (not by the e-mail parser): a folded line joins its
    header with a space, and each of several requests sent at once gets its whole answer."""
    env = emulator.env
    bucket = _bucket(env)
    host = urllib.parse.urlparse(env["STORAGE_EMULATOR_HOST"]).netloc
    body = b"folded"
    upload = (
        _media_upload_head(
            bucket.name,
            "f.txt",
            host,
            f"Content-Type: text/plain;\r\n charset=utf-8\r\nContent-Length: {len(body)}\r\n",
        )
        + body
    )
    get = f"GET /storage/v1/b/{bucket.name}/o/f.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    (up_status, _), (get_status, answer) = _raw_exchange(env, upload + get, answers=2)
    assert up_status.startswith("HTTP/1.1 200") and get_status.startswith("HTTP/1.1 200")
    assert b'"contentType": "text/plain; charset=utf-8"' in answer
    assert bucket.blob("f.txt").download_as_bytes() == body


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        ("GET /storage/v1/b?project=p HTTP/1.1\r\nNo colon here\r\n", "400"),
        ("GET /storage/v1/b?project=p HTTP/1.1\r\nHost : x\r\n", "400"),
        ("GET /storage/v1/b?project=p HTTP/2.0\r\n", "505"),
        ("GET /storage/v1/b?project=p HTTX/1.1\r\n", "400"),
        ("GET /storage/v1/b?project=p\r\n", "400"),
        ("GET /storage/v1/b?project=p HTTP/1.1\r\n" + "X-A: b\r\n" * 101, "431"),
    ],
)
def test_a_malformed_request_head_is_refused_with_its_status(emulator, request_head, status):
    """As http.server answers them: the error page, after a status line where the request's
    version was read; then the connection is closed."""
    url = urllib.parse.urlparse(emulator.env["STORAGE_EMULATOR_HOST"])
    with socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S) as conn:
        conn.sendall((request_head + "\r\n").encode())
        answer = b"".join(iter(lambda: conn.recv(65536), b""))  # until the emulator closes
    assert f"Error code: {status}".encode() in answer


@pytest.mark.parametrize("packed", [False, True], ids=["content files", "packed"])
def test_a_record_written_after_a_newer_upload_of_its_name_does_not_vouch_for_that_content(
    tmp_path, packed
):
    """Uploads A then B of one name, side by side: A's record is written (without the lock)
    after B's content was renamed into place, and the emulator dies before B's record. The
    record stamped the content file as it was when written (B's): a restart took B's bytes
    for A's, with A's size and checksums. It stamps the content its own upload staged now, so
    the restart sees the newer content and recomputes them. Small contents (packed): A's
    record says where A's bytes are, and B's upload, never answered, is not there."""
    storage = DurableStorage(tmp_path)
    storage.create_bucket("race-bucket", {"name": "race-bucket"})
    a_committed, b_committed, a_written = threading.Event(), threading.Event(), threading.Event()
    write_records = storage._write_records

    def interleaved(records, *args, **kwargs):
        if threading.current_thread().name == "upload-a":
            a_committed.set()
            assert b_committed.wait(HANG_GUARD_S)
            write_records(records, *args, **kwargs)
            a_written.set()
        else:  # upload B: its record is never written (the emulator died here)
            b_committed.set()
            assert a_written.wait(HANG_GUARD_S)

    storage._write_records = interleaved

    def upload(content: bytes) -> None:
        obj = _make_object_resource("http://127.0.0.1:1", "race-bucket", "o", "text/plain", "0")
        obj["size"] = str(len(content))
        storage.create_file("race-bucket", "o", content, _checksums(content, obj))

    times = 1 if packed else PACK_LIMIT // 8
    a_bytes, b_bytes = b"content of upload A" * times, b"B's bytes" * times
    a = threading.Thread(target=upload, args=(a_bytes,), name="upload-a")
    a.start()
    assert a_committed.wait(HANG_GUARD_S)
    upload(b_bytes)  # commits while A waits to write its record
    a.join(HANG_GUARD_S)

    restarted = DurableStorage(tmp_path)
    obj = restarted.objects["race-bucket"]["o"]
    kept = a_bytes if packed else b_bytes
    assert restarted.get_file("race-bucket", "o") == kept
    expected = _checksums(kept, {"crc32c": None, "md5Hash": None, "etag": None})
    assert (obj["size"], obj["md5Hash"], obj["crc32c"]) == (
        str(len(kept)),
        expected["md5Hash"],
        expected["crc32c"],
    )


def test_an_upload_whose_bucket_was_made_again_meanwhile_is_refused(tmp_path):
    """The content was appended to the bucket's pack; before the upload is stored the bucket
    is deleted (its folder, pack and all) and created again. The place the upload holds is in
    the removed pack, not in the new one: stored, the object would read another's bytes."""
    made_again = []

    def delete_and_make_again() -> None:
        if not made_again:
            made_again.append(True)
            with storage.lock:
                storage.delete_bucket("again")
                storage.create_bucket("again", {"name": "again"})
            storage.create_file("again", "first", b"first in the new pack", _object(b"first"))

    storage = DurableStorage(tmp_path, before_commit=delete_and_make_again)
    storage.create_bucket("again", {"name": "again"})
    with pytest.raises(GcsNotFound):
        storage.create_file("again", "late", b"appended to the old pack", _object(b"late"))
    assert set(storage.objects["again"]) == {"first"}
    assert storage.get_file("again", "first") == b"first in the new pack"


def _object(content: bytes) -> dict:
    obj = _make_object_resource("http://127.0.0.1:1", "again", "o", "text/plain", "0")
    obj["size"] = str(len(content))
    return _checksums(content, obj)


def _open_connections(env, count: int) -> list[socket.socket]:
    """`count` connections, each with one request answered and kept alive."""
    url = urllib.parse.urlparse(env["STORAGE_EMULATOR_HOST"])
    request = f"GET /storage/v1/b?project=p HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode()
    connections = []
    for _ in range(count):
        conn = socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S)
        conn.sendall(request)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")  # (the answer is one send)
        connections.append(conn)
    return connections


def test_kept_alive_connections_are_served_without_a_thread_each(emulator):
    """A thread per connection: a client's 32 connections kept 32 handler threads, which
    passed the GIL to one another around every socket call (0.63-0.71 ms of the emulator's CPU
    per upload instead of 0.40 ms one at a time, at most ~1,480 uploads/s on 2 cores). The
    listener reads every connection from its one thread (transport/loop_http.py)."""
    bucket = _bucket(emulator.env)
    bucket.blob("warm.txt").upload_from_string(b"warm")  # whatever the first write starts
    before = threading.active_count()
    connections = _open_connections(emulator.env, 8)
    try:
        assert threading.active_count() == before
    finally:
        for conn in connections:
            conn.close()


def test_a_held_upload_waits_on_its_own_while_other_connections_are_served(emulator_factory):
    """A call that may wait (a fault armed for it) is answered on a worker thread: the others
    go on, on their connections, and it completes once released."""
    server = emulator_factory()
    env = server.env
    bucket = _bucket(env)
    arm_fault(env, "storage.objects.insert", "HOLD")
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            bucket.blob("held.txt").upload_from_string(b"held", retry=None)
        except BaseException as exc:
            errors.append(exc)

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        wait_until_held(env, "storage.objects.insert")
        assert [b.name for b in storage_client(env).list_buckets()] == [bucket.name]
        assert storage_client(env).bucket(bucket.name).get_blob("held.txt") is None
    finally:
        clear_faults(env)
        uploader.join(HANG_GUARD_S)
    assert errors == []
    assert bucket.blob("held.txt").download_as_bytes() == b"held"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("Transfer-Encoding: chunked\r\n", "411"),
        ("Content-Length: 4\r\nContent-Length: 5\r\n", "400"),
        ("Content-Length: -4\r\n", "400"),
    ],
)
def test_a_body_without_one_length_is_refused_and_the_connection_closed(emulator, head, status):
    """Bodies are framed by their Content-Length (Google's client libraries always send one):
    a transfer coding or lengths that disagree are refused, not guessed at."""
    bucket = _bucket(emulator.env)
    url = urllib.parse.urlparse(emulator.env["STORAGE_EMULATOR_HOST"])
    with socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S) as conn:
        conn.sendall(
            _media_upload_head(bucket.name, "framed.bin", url.netloc, head)
            + b"4\r\nbody\r\n0\r\n\r\n"
        )
        answer = b"".join(iter(lambda: conn.recv(65536), b""))  # until the emulator closes
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert bucket.get_blob("framed.bin") is None


def test_a_request_whose_handler_fails_is_answered_500(emulator, monkeypatch, caplog):
    """An exception inside a handler dropped the connection (the client saw no answer)."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gcs, "resource_of", broken)  # read by every call, for the request log
    url = emulator.env["STORAGE_EMULATOR_HOST"]
    answer = requests.get(f"{url}/storage/v1/b?project=p", timeout=HANG_GUARD_S)
    assert answer.status_code == 500
    assert "a request failed" in caplog.text


def test_a_request_that_arrives_in_pieces_is_answered_once_whole(emulator):
    """Head and body split across many sends (a slow link): framed as they arrive."""
    bucket = _bucket(emulator.env)
    url = urllib.parse.urlparse(emulator.env["STORAGE_EMULATOR_HOST"])
    body = b"in pieces"
    request = (
        _media_upload_head(
            bucket.name,
            "pieces.bin",
            url.netloc,
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n",
        )
        + body
    )
    with socket.create_connection((url.hostname, url.port), timeout=HANG_GUARD_S) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 7):
            conn.sendall(request[start : start + 7])
        assert conn.makefile("rb").readline().startswith(b"HTTP/1.1 200")
    assert bucket.blob("pieces.bin").download_as_bytes() == body
