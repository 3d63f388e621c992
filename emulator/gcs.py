"""Cloud Storage: `gcp-storage-emulator` in-process, persistent, crash-safe, on 127.0.0.1 only.

What this adds to the package (read from its source, version pinned in requirements.txt):
- Writes in O(1): the package rewrites one JSON index of every object (`.meta`) after each
  change, so n uploads cost O(n²). Here a change appends the records of the names it touched
  to their bucket's log (see `DurableStorage` in gcs_storage.py).
- Durability: the package writes content and metadata with plain `write_bytes`; here content
  is written atomically (tmp + rename) and its record appended as one line, both before the
  answer, and synced in a group (one `syncfs` within
  a second, and at a clean stop; persistence.GroupSync). On start the records are reconciled
  with the content files: an object whose content is missing is dropped; one whose content
  file changed after its record was written (by its stat) gets its size and checksums
  recomputed.
- One listener thread: requests are read from every connection and answered by one event-loop
  thread (transport/loop_http.py; a thread per connection spent more on passing the GIL
  around than on the requests); a request that may wait (a fault armed for it, the call gate
  closed) is answered on a worker thread while the others go on. The package's handlers run
  unchanged over the request's bytes (`_Handler.answer`). A handler's exception is answered
  500 (the package's server dropped the connection).
- Thread safety: the package's Storage is not thread-safe; one lock serialises the requests
  and the core's direct access (import reading CSVs and images, exports writing), except
  uploads (`storage.objects.insert`): they write the content without it, and hold it for the
  rename and the record (DurableStorage.create_file).
- Preconditions: an upload's `ifGenerationMatch` (0: only if the object does not exist) is
  checked where the object is stored, under the lock: HTTP 412 `conditionNotMet` otherwise.
- Stable download links: objects store `mediaLink` with the port they were uploaded on; on
  start the links are rewritten (in memory) to the current port, so a restart on random ports
  keeps `blob.download_*` working.
- Fault injection per JSON API method (`storage.objects.insert`, ...), see core/faults.py;
  every call passes the call gate and the request log (transport/calls.py).
- A reset (`empty()`): the store is moved aside whole and a new, empty one takes its place.
- The package's unauthenticated `GET /wipe` is not served (it would delete everything).
"""

import http.client
import io
import json
import logging
import re
import sys
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlparse

from gcp_storage_emulator import server as gcs_server
from gcp_storage_emulator import storage as gcs_storage_package
from gcp_storage_emulator.exceptions import Conflict as GcsConflict
from gcp_storage_emulator.exceptions import NotFound as GcsNotFound

# Private helpers of the pinned package: the same object resource the HTTP upload creates.
from gcp_storage_emulator.handlers.objects import _checksums, _make_object_resource
from gcp_storage_emulator.settings import STORAGE_DIR

from emulator.core.blobs import BlobInfo, ContentLocation, parse_gs_prefix, parse_gs_uri
from emulator.core.errors import Code, InvalidArgument, NotFound, ServiceError
from emulator.core.faults import FaultInjector
from emulator.core.persistence import CorruptStateError, GroupSync, remove_temp_files
from emulator.gcs_names import InvalidName
from emulator.gcs_storage import DurableStorage, PreconditionFailed, media_link
from emulator.transport.calls import Calls
from emulator.transport.loop_http import LoopHttpServer
from emulator.transport.rest import server_url

INSERT = "storage.objects.insert"
# The checkpoint between an upload's staged content and its commit (rename + record).
COMMIT_STEP = "storage.objects.insert.commit"

# JSON API method names (as in Google's discovery document) for fault injection.
_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", r"/upload/storage/v1/b/[^/]+/o", "storage.objects.insert"),
    ("PUT", r"/upload/storage/v1/b/[^/]+/o", "storage.objects.insert"),
    ("GET", r"/download/storage/v1/b/[^/]+/o/.+", "storage.objects.get"),
    ("POST", r"/batch/storage/v1", "storage.batch"),
    ("GET", r"(/storage/v1)?/b", "storage.buckets.list"),
    ("POST", r"(/storage/v1)?/b", "storage.buckets.insert"),
    ("GET", r"(/storage/v1)?/b/[^/]+", "storage.buckets.get"),
    ("PATCH", r"(/storage/v1)?/b/[^/]+", "storage.buckets.patch"),
    ("DELETE", r"(/storage/v1)?/b/[^/]+", "storage.buckets.delete"),
    ("GET", r"(/storage/v1)?/b/[^/]+/o", "storage.objects.list"),
    ("POST", r"(/storage/v1)?/b/[^/]+/o", "storage.objects.insert"),
    (
        "POST",
        r"(/storage/v1)?/b/[^/]+/o/.+/(copyTo|rewriteTo)/b/[^/]+/o/.+",
        "storage.objects.rewrite",
    ),
    ("POST", r"(/storage/v1)?/b/[^/]+/o/.+/compose", "storage.objects.compose"),
    ("GET", r"(/storage/v1)?/b/[^/]+/o/.+", "storage.objects.get"),
    ("PATCH", r"(/storage/v1)?/b/[^/]+/o/.+", "storage.objects.patch"),
    ("DELETE", r"(/storage/v1)?/b/[^/]+/o/.+", "storage.objects.delete"),
)


_UPLOAD_PATH = re.compile(r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))')


def _related_parts(body: bytes, content_type: str) -> tuple[dict, bytes, str] | None:
    """A multipart upload's metadata (JSON), content and content type, or None when `body` is
    not the two parts (metadata, media) of `content_type`'s boundary."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return None
    delimiter = b"--" + (found[1] or found[2]).encode("latin-1")
    # [preamble, metadata part, media part, "--" epilogue]; each part is CRLF headers CRLF
    # CRLF content CRLF (the CRLF before a delimiter belongs to it).
    pieces = body.split(delimiter)
    if len(pieces) != 4 or not pieces[3].startswith(b"--"):
        return None
    parsed = []
    for piece in pieces[1:3]:
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"\r\n") or not content.endswith(b"\r\n"):
            return None
        fields = {}
        for line in head[2:].split(b"\r\n"):
            key, colon, value = line.partition(b":")
            if not colon:
                return None
            fields[key.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        parsed.append((fields, content[:-2]))
    (meta_fields, meta_raw), (media_fields, content) = parsed
    if not meta_fields.get("content-type", "").startswith("application/json"):
        return None
    try:
        meta = json.loads(meta_raw)
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return meta, content, media_fields.get("content-type", "application/octet-stream")


_BUCKET_PATH = re.compile(
    r"(?:/upload|/download)?(?:/storage/v1)?/b/(?P<bucket>[^/]+)(?:/o/(?P<object>.+))?"
)


def resource_of(path: str, params: dict[str, list[str]]) -> str:
    """What a JSON API request is about, for the request log: `gs://bucket[/object]` (only the
    bucket for an upload that names its object in the body: multipart, resumable). `params`:
    the request's query string, parsed."""
    match = _BUCKET_PATH.match(path)
    if match is None:
        return path
    name = match["object"]
    if name is not None:
        name = unquote(re.split(r"/(?:copyTo|rewriteTo|compose)\b", name)[0])
    else:
        name = params.get("name", [""])[0]  # uploads name the object here
    return f"gs://{match['bucket']}" + (f"/{name}" if name else "")


def json_api_method(http_method: str, path: str) -> str:
    """The JSON API method a request calls (`storage.objects.get`), for fault injection."""
    for method, pattern, name in _ROUTES:
        if method == http_method and re.fullmatch(pattern, path):
            return name
    return f"storage.{http_method.lower()}"


class _Handled(logging.Filter):
    """Drops the package's error log records written while one of `kinds` is being handled
    (it logs from inside its `except` blocks): answers the client gets, not the emulator's
    errors."""

    def __init__(self, *kinds: type[BaseException]) -> None:
        super().__init__()
        self._kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        return not isinstance(sys.exc_info()[1], self._kinds)


# A refusal this emulator answers itself (an invalid name: 400, a precondition: 412).
logging.getLogger(gcs_server.__name__).addFilter(_Handled(InvalidName, PreconditionFailed))
# A download of an object that does not exist ("Resource not found:" and the path): a 404.
logging.getLogger(gcs_storage_package.__name__).addFilter(_Handled(FileNotFoundError))


# Limits on a request's header block, as http.client applies them.
_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100
_date = (0, "")  # a second, and the `Date` header's value in it
_HTTP_VERSION = re.compile(r"HTTP/(\d{1,10})\.(\d{1,10})")
_package_log = logging.getLogger(gcs_server.__name__)


class _RequestHeaders(http.client.HTTPMessage):
    """A request's headers, looked up by a dict of lowercase names: `Message.get` compares
    every header's lowercased name, and a request is asked for about ten of them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._first: dict[str, str] = {}

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name, value)
        self._first.setdefault(name.lower(), value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._first = {}
        for key, value in self.items():
            self._first.setdefault(key.lower(), value)

    def get(self, name, failobj=None):  # the first value of that name, as Message.get
        return self._first.get(name.lower(), failobj)


class _Handler(gcs_server.RequestHandler):
    """One request, answered from its bytes (`answer`): the listener (transport/loop_http.py)
    frames requests and writes answers; this reads the request from a buffer and writes the
    whole answer into one, so the package's handlers run unchanged, without a socket."""

    # Connections are kept open between requests (every answer has a Content-Length; the
    # package's and _send_error's): a client's pool of 32 does not open 32 per round.
    protocol_version = "HTTP/1.1"
    MessageClass = _RequestHeaders

    def __init__(
        self, gcs: "GcsServer", peer: tuple, server: SimpleNamespace, delayed: bool = False
    ) -> None:
        # Not BaseRequestHandler.__init__: that serves a socket; `answer` serves bytes.
        # `delayed`: the request waited its DELAY fault before it was answered.
        self._gcs = gcs
        self._delayed = delayed
        self._faults = gcs._faults
        self._calls = gcs._calls
        self._status: int | None = None
        self.storage = gcs.storage  # the package's handlers read it
        self.client_address = peer
        self.server = server  # read for its server_address only
        self.close_connection = True

    def answer(self, request: bytes) -> tuple[bytes, bool]:
        """The answer to one whole request, and whether to close the connection after it."""
        self.rfile = io.BytesIO(request)
        self.wfile = io.BytesIO()
        self.handle_one_request()
        return self.wfile.getvalue(), self.close_connection

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code  # the call's status, for the request log
        super().send_response(code, message)

    def parse_request(self) -> bool:
        """Reads the request line and the headers (as BaseHTTPRequestHandler.parse_request).

        The standard library parses headers with the e-mail package (a MIME parser per
        request: a fifth of the emulator's time per upload); here they are read line by line.
        HTTP/0.9 requests are refused (400); an obsolete folded header line is joined with a
        space (RFC 9112 section 5.2); a line without a colon is refused (400).
        """
        self.command = None  # the error answers below need these
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3:
            self.send_error(400, f"Bad request syntax ({self.requestline!r})")
            return False
        command, path, version = words
        found = _HTTP_VERSION.fullmatch(version)
        if found is None:
            self.send_error(400, f"Bad request version ({version!r})")
            return False
        number = int(found[1]), int(found[2])
        if number >= (2, 0):
            self.send_error(505, f"Invalid HTTP version ({version[5:]})")
            return False
        self.request_version = version
        self.close_connection = number < (1, 1)
        if path.startswith("//"):  # clients read `//host/x` as another host's URL (gh-87389)
            path = "/" + path.lstrip("/")
        self.command, self.path = command, path
        fields: list[list[str]] = []
        while True:
            raw = self.rfile.readline(_MAX_HEADER_LINE + 1)
            if len(raw) > _MAX_HEADER_LINE:
                self.send_error(431, "Line too long", "header line longer than 65536 bytes")
                return False
            line = raw.decode("iso-8859-1").rstrip("\r\n")
            if not line:
                break
            if line[0] in " \t" and fields:  # obs-fold: part of the previous header's value
                fields[-1][1] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.rstrip():
                self.send_error(400, f"Bad header line ({line[:100]!r})")
                return False
            if len(fields) == _MAX_HEADERS:
                self.send_error(431, "Too many headers", f"more than {_MAX_HEADERS} headers")
                return False
            fields.append([name, value.strip()])
        self.headers = headers = self.MessageClass()
        for name, value in fields:
            headers[name] = value  # appends: repeated headers are kept, as parse_headers does
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("Expect", "").lower() == "100-continue" and number >= (1, 1):
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        return True  # the listener sent `100 Continue` when the head came without the body

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header's value, formatted once a second."""
        global _date
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        second, text = _date
        if second != now:
            text = super().date_time_string(now)
            _date = (now, text)
        return text

    def log_message(self, format: str, *args) -> None:
        if _package_log.isEnabledFor(logging.INFO):  # formatted only when it is written
            super().log_message(format, *args)

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        name = json_api_method(method, url.path)
        service, _, api_method = name.partition(".")
        params = parse_qs(url.query)
        with self._calls.call("gcs", service, api_method, resource_of(url.path, params)) as call:
            self._status = None
            try:
                self._handle(method, url.path, params, name)
            finally:
                call.status = self._status or "UNKNOWN"

    def _handle(self, method: str, path: str, params: dict[str, list[str]], name: str) -> None:
        if path == "/wipe":
            self._send_error(404, "NOT_FOUND", "/wipe is not served by the edge-labeler emulator")
            return
        try:
            self._faults.check(name, delayed=self._delayed)
        except ServiceError as exc:
            self._send_error(exc.code.http_status, exc.code.name, exc.message)
            return
        raw = params.get("ifGenerationMatch", [None])[0]
        try:
            if_generation_match = None if raw is None else int(raw)
        except ValueError:
            self._send_error(400, "invalid", f"ifGenerationMatch {raw!r} is not a generation")
            return
        # Uploads lock the storage themselves, for the rename and the in-memory update only.
        lock: AbstractContextManager = nullcontext() if name == INSERT else self._gcs._lock
        with lock:
            storage = self.storage = self._gcs.storage  # the store of now: a reset replaces it
            with storage.preconditions(if_generation_match):
                try:
                    if not (method == "POST" and self._multipart_insert(path, params)):
                        gcs_server.Router(self).handle(method)
                except InvalidName as exc:  # raised before the package wrote its response
                    # https://cloud.google.com/storage/docs/json_api/v1/status-codes: 400
                    self._send_error(400, "invalid", exc.message, drain=False)
                except PreconditionFailed as exc:  # raised before the package wrote its answer
                    # https://cloud.google.com/storage/docs/json_api/v1/status-codes: 412
                    self._send_error(412, "conditionNotMet", exc.message, drain=False)
                except ServiceError as exc:  # a fault at COMMIT_STEP, or the emulator stopping
                    self._send_error(exc.code.http_status, exc.code.name, exc.message, drain=False)

    def _multipart_insert(self, path: str, params: dict[str, list[str]]) -> bool:
        """A multipart upload (`uploadType=multipart`: the client library's upload of an object
        below 8 MiB), answered here as the package would, without its router and its e-mail
        parser (half of the emulator's time per upload); False when the request is another
        call, or a body this reading does not take apart (it is then the package's, as sent).

        The body is multipart/related (RFC 2387, https://cloud.google.com/storage/docs/
        uploading-objects#uploading-an-object): the object's JSON metadata, then its bytes.
        """
        match = _UPLOAD_PATH.fullmatch(path)
        if match is None or params.get("uploadType") != ["multipart"]:
            return False
        headers = self.headers
        content_type = headers.get("Content-Type", "")
        length = headers.get("Content-Length")
        if (
            not content_type.startswith("multipart/related")
            or length is None
            or headers.get("Content-Encoding")
        ):
            return False
        body = self.rfile.read(int(length))
        parts = _related_parts(body, content_type)
        name = params["name"][0] if "name" in params else parts and parts[0].get("name")
        if parts is None or not isinstance(name, str):
            self.rfile = io.BytesIO(body)  # the package reads it as it came
            return False
        meta, content, part_type = parts
        bucket = unquote(match["bucket"])
        if "contentEncoding" in params:  # as the package's _content_type_from_request
            part_type = params["contentEncoding"][0]
        obj = _make_object_resource(self._gcs.url, bucket, name, part_type, str(len(content)), meta)
        try:
            obj = _checksums(content, obj)
        except GcsConflict as exc:  # the client's MD5 or CRC32C is not the body's
            self._send_error(400, "invalid", str(exc), drain=False)
            return True
        try:
            answer = self.storage.create_file(bucket, name, content, obj).encode()
        except GcsNotFound:
            self._send_error(404, "notFound", f"bucket {bucket} does not exist", drain=False)
            return True
        self.send_response(200)
        self.send_header("Content-type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        return True

    def _send_error(self, status: int, reason: str, message: str, drain: bool = True) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"domain": "global", "reason": reason, "message": message}],
                }
            }
        ).encode()
        # Drain an unread request body so the client sees the response, not a reset connection
        # (not when the package has read it already: that read would wait forever).
        length = int(self.headers.get("Content-Length") or 0) if drain else 0
        if length:
            self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class GcsServer:
    """The Cloud Storage JSON API on `host:port`, objects under `root`; also the core's Blobs."""

    def __init__(
        self,
        root: Path,
        host: str,
        port: int,
        faults: FaultInjector,
        calls: Calls,
        group: GroupSync | None = None,
    ) -> None:
        self._root = root
        self._host = host
        self._port = port
        self._faults = faults
        self._calls = calls
        self._group = group
        self._lock = threading.RLock()
        self._storage: DurableStorage | None = None
        self._httpd: LoopHttpServer | None = None
        self._listening = SimpleNamespace(server_address=(host, port))

    @property
    def url(self) -> str:
        """`http://127.0.0.1:P`, the value of STORAGE_EMULATOR_HOST."""
        assert self._httpd is not None, "start() first"
        return server_url(self._httpd)

    @property
    def storage(self) -> DurableStorage:
        """The store of now (a reset replaces it); open from start() on."""
        assert self._storage is not None, "start() first"
        return self._storage

    def _open(self) -> DurableStorage:
        self._root.mkdir(parents=True, exist_ok=True)
        remove_temp_files(self._root)
        try:
            return DurableStorage(
                self._root.resolve(), self._lock, self._group, self._before_commit
            )
        except ValueError as exc:  # the package's index is not JSON
            raise CorruptStateError(
                f"{self._root / STORAGE_DIR / '.meta'} (the Cloud Storage bucket index) cannot be "
                f"read ({exc}); restore it or remove the {self._root} directory"
            ) from None

    def start(self) -> str:
        self._storage = self._open()
        self._httpd = LoopHttpServer(
            self._host, self._port, self._answer, self._waits, name="gcs-http"
        )
        # What the package's handlers read of their server (its address, for links).
        self._listening = SimpleNamespace(server_address=self._httpd.server_address)
        self._rewrite_links()
        return self.url

    def _answer(self, request: bytes, peer: tuple, delayed: bool) -> tuple[bytes, bool]:
        return _Handler(self, peer, self._listening, delayed).answer(request)

    def _waits(self, method: str, target: str) -> float | None:
        """When a request is answered (see transport/loop_http.py): now (0) unless a fault is
        armed for it or the call gate is closed; after its DELAY (taken now, waited on the
        listener's thread); on a thread of its own (None) when it may block."""
        if self._calls.gate.is_closed:
            return None
        if not self._faults.any_armed():
            return 0.0
        name = json_api_method(method, urlparse(target).path)
        if name == INSERT and self._faults.affects(COMMIT_STEP, delays=False):
            return None
        delay = self._faults.take_delay(name)
        if delay is not None:
            return delay
        return None if self._faults.affects(name) else 0.0

    def _before_commit(self) -> None:
        """COMMIT_STEP: a fault there fails or holds an upload whose content is staged."""
        self._faults.checkpoint(COMMIT_STEP, lambda: self._httpd is None)
        if self._httpd is None:
            raise ServiceError(
                "The emulator stopped before the upload was stored.", Code.UNAVAILABLE
            )

    def stop(self) -> None:
        if self._httpd is not None:
            httpd, self._httpd = self._httpd, None  # held commits see it stopped and fail
            httpd.stop()
        if self._storage is not None:
            self._storage.close()

    def empty(self, aside: Path) -> None:
        """Moves every bucket and object to `aside` (one rename) and serves an empty store."""
        with self._lock:
            self._root.rename(aside)
            if self._storage is not None:
                self._storage.close(moved=True)
            self._storage = self._open()

    def _rewrite_links(self) -> None:
        """Points every stored download link at the current port.

        In memory only: a record keeps the port it was written with, and is fixed on each start.
        """
        storage = self.storage
        live = (obj for objects in storage.objects.values() for obj in objects.values())
        soft_deleted = (  # a restored generation keeps its link
            obj
            for names in storage.soft_deleted.values()
            for generations in names.values()
            for obj in generations.values()
        )
        for obj in (*live, *soft_deleted):
            link, bucket, name = obj.get("mediaLink"), obj.get("bucket"), obj.get("name")
            if isinstance(link, str) and "/download/" in link and bucket and name:
                # Rebuilt, not only re-hosted: links written before names were encoded in them.
                obj["mediaLink"] = media_link(self.url, bucket, name, obj.get("generation"))

    # ---- Blobs (the core's access) -----------------------------------------------------------

    def _object(self, uri: str) -> tuple[str, str, dict]:
        bucket, name = parse_gs_uri(uri)
        storage = self.storage
        if storage.get_bucket(bucket) is None:
            raise NotFound(f"{uri}: bucket {bucket} does not exist")
        obj = storage.objects.get(bucket, {}).get(name)
        if obj is None:
            raise NotFound(f"{uri} does not exist")
        return bucket, name, obj

    def stat(self, uri: str) -> BlobInfo:
        with self._lock:
            _, _, obj = self._object(uri)
            return _info(uri, obj)

    def read(self, uri: str) -> bytes:
        with self._lock:
            bucket, name, _ = self._object(uri)
            try:
                return self.storage.get_file(bucket, name, show_error=False)
            except GcsNotFound:
                raise NotFound(f"{uri} does not exist") from None

    def content_location(self, uri: str) -> ContentLocation:
        with self._lock:
            bucket, name, _ = self._object(uri)
            return self.storage.content_location(bucket, name)

    def write(
        self, uri: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        bucket, name = parse_gs_uri(uri)
        storage = self.storage
        obj = _make_object_resource(self.url, bucket, name, content_type, str(len(data)))
        obj = _checksums(data, obj)
        try:  # takes the lock itself, for the rename and the record (as an upload)
            storage.create_file(bucket, name, data, obj)
        except GcsNotFound:
            raise NotFound(f"{uri}: bucket {bucket} does not exist") from None
        except InvalidName as exc:
            raise InvalidArgument(f"{uri}: {exc.message}") from None
        return _info(uri, obj)

    def list(self, uri_prefix: str) -> list[BlobInfo]:
        bucket, prefix = parse_gs_prefix(uri_prefix, "uri_prefix")
        with self._lock:
            try:
                objs, _ = self.storage.get_file_list(bucket, prefix or None)
            except GcsNotFound:
                raise NotFound(f"{uri_prefix}: bucket {bucket} does not exist") from None
            return [_info(f"gs://{bucket}/{o['name']}", o) for o in objs]

    def delete(self, uri: str) -> None:
        with self._lock:
            bucket, name, _ = self._object(uri)
            self.storage.delete_file(bucket, name)


def _info(uri: str, obj: dict) -> BlobInfo:
    return BlobInfo(
        uri=uri,
        size=int(obj.get("size") or 0),
        content_type=obj.get("contentType") or "application/octet-stream",
    )
