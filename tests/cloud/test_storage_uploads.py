"""`ObjectStore.upload_missing` in worker processes keeps every promise of the threaded one:
the content check of what exists (listed, or found by `ifGenerationMatch=0`), replacement of an
address holding other bytes (`replaced` told), progress every 500 and at the end, the verified
read before anything is sent, and an error that is one clear message (no traceback) after which
nothing new starts. Both ways run against the same scenarios and must agree. The workers build
the storage client the calling process would: a Google stack's uploads go to Google with the
stack's credentials (components/cloud/clients.py's Access), not the workers' own lookup."""

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from components.cloud import clients
from components.cloud import storage as storage_module
from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.storage import UPLOAD_WORKERS, ObjectStore, Upload
from components.data.errors import DatasetError, Problem
from tests.fixtures.credentials import service_account_key
from tests.fixtures.emulator import LOCATION, PROJECT, arm_fault, clear_faults, storage_client

COUNT = 1_001  # progress at 500, 1,000 and the end
FAST_RETRY = "initial=0.01,maximum=0.02,deadline=0.5"


def _blob(i: int) -> bytes:
    return f"image {i} ".encode() * (1 + i % 7)


def _name(data: bytes) -> str:
    return f"images/{hashlib.sha256(data).hexdigest()}.png"


def _store(emulator) -> ObjectStore:
    target = CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)
    bucket = storage_client(emulator.env).create_bucket(f"up-{uuid.uuid4().hex[:12]}").name
    return ObjectStore(target, bucket)


def _in_processes(monkeypatch) -> None:
    monkeypatch.setattr(storage_module, "MIN_PROCESS_UPLOADS", 1)
    monkeypatch.setattr(storage_module, "cores", lambda: 2)  # also on a one-core machine

    def here(*args: object) -> str:
        raise AssertionError("uploaded by the calling process, not by its workers")

    monkeypatch.setattr(ObjectStore, "create", here)
    monkeypatch.setattr(ObjectStore, "replace", here)


@pytest.fixture(params=["threads", "processes"])
def way(request, monkeypatch) -> str:
    if request.param == "processes":
        _in_processes(monkeypatch)
    else:
        monkeypatch.setattr(storage_module, "MIN_PROCESS_UPLOADS", 10**9)
    return str(request.param)


def _scenario(store: ObjectStore, listed: bool) -> tuple[int, list[tuple[int, int]]]:
    """COUNT uploads into a bucket holding two of them already (one right, one with other
    bytes under its address); without `listed`, the listing finds neither (as when someone
    writes them meanwhile), so the creates' `ifGenerationMatch=0` does."""
    blobs = [_blob(i) for i in range(COUNT)]
    right, wrong = _name(blobs[3]), _name(blobs[700])
    store.write(right, blobs[3])
    store.write(wrong, b"other bytes")
    if not listed:
        store.listing = lambda prefix, max_results=None: {}  # type: ignore[method-assign]
    replaced: list[str] = []
    progress: list[tuple[int, int]] = []
    sent = store.upload_missing(
        [Upload(_name(b), lambda b=b: b) for b in blobs],
        "images/",
        lambda done, total: progress.append((done, total)),
        replaced.append,
    )
    assert replaced == [wrong]
    for b in blobs[:: COUNT // 20]:
        assert store.read(_name(b)) == b
    assert store.read(wrong) == blobs[700]
    return sent, progress


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "found-by-create"])
def test_uploads_keep_every_promise(emulator, way, listed):
    sent, progress = _scenario(_store(emulator), listed)
    assert sent == COUNT - 1  # all but the one that held the right bytes
    assert progress == [(500, COUNT), (1000, COUNT), (COUNT, COUNT)]


def _failing_read(problem: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise DatasetError([Problem("digits/7.png", "changed", problem)])

    return read


def test_a_file_edited_since_the_check_is_refused_and_nothing_after_it_starts(emulator, way):
    store = _store(emulator)
    blobs = [_blob(i) for i in range(COUNT)]
    read: set[int] = set()

    def reader(i: int) -> Callable[[], bytes]:
        def read_one() -> bytes:
            read.add(i)
            return blobs[i]

        return read_one

    uploads = [Upload(_name(b), reader(i)) for i, b in enumerate(blobs)]
    edited = _name(b"the checked bytes")
    uploads[300] = Upload(edited, _failing_read("changed since it was checked"))
    with pytest.raises(DatasetError, match="changed since it was checked"):
        store.upload_missing(uploads, "images/")
    assert store.read(edited) is None
    last = range(COUNT - 300, COUNT)  # far beyond what runs, or is read, ahead of an error
    assert not read & set(last)
    assert all(store.read(_name(blobs[i])) is None for i in last[::30])
    if way == "processes":  # the parent reads a bounded number ahead, and sends none of those
        assert max(read) < 300 + 4 * UPLOAD_WORKERS
        assert all(store.read(_name(blobs[i])) is None for i in range(301, max(read) + 1))


def test_an_outage_ends_in_one_clear_message(emulator, way, monkeypatch):
    monkeypatch.setenv("EDGE_LABELER_RETRY", FAST_RETRY)
    store = _store(emulator)
    arm_fault(emulator.env, "storage.objects.insert", "UNAVAILABLE", count=10**6)
    try:
        with pytest.raises(CloudError) as info:
            store.upload_missing(
                [Upload(_name(_blob(i)), lambda i=i: _blob(i)) for i in range(50)], "images/"
            )
    finally:
        clear_faults(emulator.env)
    message = str(info.value)
    assert message.startswith(f"uploading gs://{store.bucket_name}/images/"), message
    assert "still failing after" in message and "Traceback" not in message, message
    assert type(info.value) is CloudError


class _Handler(BaseHTTPRequestHandler):
    """A token endpoint (a service-account key's `token_uri`) and an HTTPS proxy that
    refuses every tunnel; both record what they are asked."""

    server: "_Recorder"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        assertion = parse_qs(body.decode())["assertion"][0]
        claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
        self.server.seen.append(("token", claims["iss"]))
        answer = json.dumps({"access_token": "t", "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_CONNECT(self) -> None:
        self.server.seen.append(("connect", self.path))
        self.send_error(502, "no tunnel here")


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def google(monkeypatch) -> Iterator[_Recorder]:
    """A Google stack's environment: no emulator, HTTPS through the recorder (which stands for
    the network: storage.googleapis.com is never reached), and a service-account key whose
    tokens the recorder issues, set as the provider's configuration sets it."""
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for name in (*clients.EMULATOR_ENV, "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    monkeypatch.setenv("EDGE_LABELER_RETRY", FAST_RETRY)
    clients.use_access(
        {"edge-labeler:credentials": service_account_key("p-7c1e", server.url + "/token")}
    )
    try:
        yield server
    finally:
        clients.use_access({})
        server.shutdown()
        server.server_close()


def test_workers_upload_to_google_with_the_stacks_credentials(google, monkeypatch):
    _in_processes(monkeypatch)
    store = ObjectStore(CloudTarget(stack="prod", project="p-7c1e"), "p-7c1e-images")
    store.listing = lambda prefix, max_results=None: {}  # type: ignore[method-assign]
    with pytest.raises(CloudError) as info:
        store.upload_missing([Upload(_name(_blob(i)), lambda i=i: _blob(i)) for i in range(4)], "")
    message = str(info.value)
    assert message.startswith("uploading gs://p-7c1e-images/images/"), message
    # Only the workers made clients (the listing above makes none): each fetched its token
    # with the stack's key, and sent its uploads to Google's endpoint.
    kinds = {kind for kind, _ in google.seen}
    assert kinds == {"token", "connect"}, google.seen
    assert {who for kind, who in google.seen if kind == "token"} == {
        "ci@p-7c1e.iam.gserviceaccount.com"
    }
    assert {to for kind, to in google.seen if kind == "connect"} == {"storage.googleapis.com:443"}
