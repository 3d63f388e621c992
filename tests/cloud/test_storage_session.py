"""The Cloud Storage clients' HTTP session (components/cloud/sessions.py) against a local HTTP
server that records what arrives: what goes on the wire is what a plain requests session sends,
google-auth still applies and refreshes the credentials, the environment's proxy settings and
a server's cookies and redirects are honoured, errors are requests' own, and a Google client
keeps a connection per upload thread."""

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage.retry import DEFAULT_RETRY

from components.cloud import clients
from components.cloud.clients import CloudTarget
from components.cloud.retry import is_transient
from components.cloud.sessions import CONNECTIONS, StorageSession
from tests.fixtures.credentials import service_account_key

UPLOAD_THREADS = 32  # components/cloud/storage.py's upload pool


@dataclass
class Seen:
    """What the server received: one entry per request."""

    requests: list[dict] = field(default_factory=list)
    tokens_issued: int = 0
    expired_once: set[str] = field(default_factory=set)
    hold: threading.Barrier | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        seen = self.server.seen
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {
            "method": self.command,
            "target": self.path,
            "headers": [(k.lower(), v) for k, v in self.headers.items()],
            "body": body,
            "port": self.client_address[1],
        }
        with seen.lock:
            seen.requests.append(record)
        path = self.path.split("?")[0]
        if path == "/token":
            with seen.lock:
                seen.tokens_issued += 1
                token = f"token-{seen.tokens_issued}"
            return self._answer(
                200, json.dumps({"access_token": token, "expires_in": 3600}).encode()
            )
        if path == "/hold":  # every request of a round is in flight at once
            assert seen.hold is not None
            try:
                seen.hold.wait()
            except threading.BrokenBarrierError:
                return self._answer(500, b'{"error": "the round never filled"}')
        if path.startswith("/expire-once/"):
            with seen.lock:
                first = path not in seen.expired_once
                seen.expired_once.add(path)
            if first:
                return self._answer(401, b'{"error": {"code": 401}}')
        if path == "/set-cookie":
            return self._answer(200, headers={"Set-Cookie": "session=abc; Path=/"})
        if path == "/moved":
            return self._answer(307, b"", headers={"Location": "/landed"})
        return self._answer(200, json.dumps({"path": path}).encode())

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen = Seen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def google_client_session(server, monkeypatch):
    """The session of a Google stack's storage client, its key's token endpoint the server."""
    for name in clients.EMULATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    clients.use_access(
        {"edge-labeler:credentials": service_account_key("p-7c1e", server.url + "/token")}
    )
    try:
        client = clients.storage_client(CloudTarget(stack="prod", project="p-7c1e"))
        yield client._http
    finally:
        clients.use_access({})


def _sent(record: dict) -> tuple:
    """A request as the server saw it, without what differs between two connections."""
    return record["method"], record["target"], record["headers"], record["body"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": b"\x89PNG\r\n" + bytes(range(256)), "headers": {"Content-Type": "image/png"}},
        {"data": "text, not bytes: é", "headers": {"X-Goog-Meta-A": "1"}},
        {"data": {"form": "a b", "n": "2"}},
        {"headers": {"Accept-Encoding": None, "User-Agent": "edge-labeler/test"}},
        {"headers": {"accept": "application/json"}},
    ],
    ids=["bytes", "str", "form", "header-removed", "header-case"],
)
@pytest.mark.parametrize(
    "path", ["/b/o?uploadType=multipart&name=a b/ü.png", "/b/o/%2Fx?alt=media&ifGenerationMatch=0"]
)
def test_the_bytes_sent_are_those_a_requests_session_sends(server, kwargs, path):
    plain = requests.Session()
    plain.trust_env = False
    ours = StorageSession(AnonymousCredentials())
    ours.trust_env = False
    for session in (plain, ours):
        response = session.request("POST", server.url + path, **kwargs)
        assert response.status_code == 200
        assert isinstance(response, requests.Response)
    first, second = server.seen.requests
    assert _sent(first) == _sent(second)


def test_a_google_client_keeps_a_connection_per_upload_thread(server, google_client_session):
    # On main the Google client's session was google-auth's default (requests keeps 10
    # connections per host): 22 of 32 concurrent uploads opened, then dropped, a connection.
    assert CONNECTIONS >= UPLOAD_THREADS
    session = google_client_session
    for _ in range(2):
        server.seen.hold = threading.Barrier(UPLOAD_THREADS, timeout=60)
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            answers = list(pool.map(lambda _: session.get(server.url + "/hold"), range(32)))
        assert [a.status_code for a in answers] == [200] * UPLOAD_THREADS
    held = [r for r in server.seen.requests if r["target"] == "/hold"]
    assert len(held) == 2 * UPLOAD_THREADS
    assert len({r["port"] for r in held}) == UPLOAD_THREADS
    # google-auth applied the key's credentials: a token it was issued, on every request
    # (32 threads that start at once may each refresh the not-yet-valid credentials).
    issued = {f"Bearer token-{n}" for n in range(1, server.seen.tokens_issued + 1)}
    assert {dict(r["headers"])["authorization"] for r in held} <= issued


def test_a_401_refreshes_the_credentials_and_sends_again(server, google_client_session):
    response = google_client_session.post(server.url + "/expire-once/a", data=b"x")
    assert response.status_code == 200
    sent = [r for r in server.seen.requests if r["target"] == "/expire-once/a"]
    assert [dict(r["headers"])["authorization"] for r in sent] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert [r["body"] for r in sent] == [b"x", b"x"]


def test_the_environment_proxy_is_used_and_no_proxy_is_respected(server, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    session = StorageSession(AnonymousCredentials())
    assert session.trust_env
    response = session.get("http://storage.example.invalid/b/o?x=1")
    assert response.status_code == 200
    assert server.seen.requests[-1]["target"] == "http://storage.example.invalid/b/o?x=1"
    # NO_PROXY is matched per host: a host it names goes direct (and here, resolves nowhere).
    monkeypatch.setenv("NO_PROXY", "direct.example.invalid")
    session = StorageSession(AnonymousCredentials())
    with pytest.raises(requests.ConnectionError):
        session.get("http://direct.example.invalid/b")
    assert len(server.seen.requests) == 1


def test_a_cookie_the_server_sets_is_sent_back(server):
    session = StorageSession(AnonymousCredentials())
    session.trust_env = False
    session.get(server.url + "/set-cookie")
    session.get(server.url + "/next")
    assert dict(server.seen.requests[-1]["headers"]).get("cookie") == "session=abc"


def test_a_redirect_is_followed_as_requests_follows_it(server):
    session = StorageSession(AnonymousCredentials())
    session.trust_env = False
    response = session.get(server.url + "/moved")
    assert response.url == server.url + "/landed"
    assert [r.status_code for r in response.history] == [307]
    assert response.json() == {"path": "/landed"}


def test_connection_errors_are_requests_errors_the_retry_predicates_know():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = StorageSession(AnonymousCredentials())
    session.trust_env = False
    with pytest.raises(requests.ConnectionError) as caught:
        session.post(f"http://127.0.0.1:{port}/upload", data=b"x", timeout=5)
    assert DEFAULT_RETRY._predicate(caught.value)
    assert is_transient(caught.value)
