"""The REST transport: a small JSON-over-HTTP server (routes by method and path template).

Handlers take an HttpRequest and return an HttpResponse; a ServiceError they raise becomes
Google's JSON error body (`{"error": {"code", "message", "status"}}`). Every route passes the
call gate and the request log (transport/calls.py) and fault injection, under its name
(`firebaseml.projects.models.create`: the service before the first dot, the method after).

What the server serves is a RestRoutes table, given to `start()` and replaced whole by
`serve()` (the emulator's reset) while the server keeps listening.
"""

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from emulator.core.errors import InvalidArgument, NotFound, ServiceError
from emulator.core.faults import FaultInjector
from emulator.transport.calls import Calls
from emulator.transport.loop_http import LoopHttpServer

log = logging.getLogger(__name__)


def server_url(server: HTTPServer | LoopHttpServer) -> str:
    """`http://host:port`, where a listening (TCP) HTTP server answers."""
    host, port = server.server_address[:2]
    # Bound, it is what getsockname() gives: a str host (typeshed also allows the bytes a
    # constructor may take).
    assert isinstance(host, str), host
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]  # from the route template's {placeholders}
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The JSON body ({} when empty); InvalidArgument when it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise InvalidArgument(f"request body is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class HttpResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


RouteHandler = Callable[[HttpRequest], HttpResponse]


def json_response(document: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(document).encode())


def error_response(error: ServiceError) -> HttpResponse:
    """Google's JSON error body: {"error": {"code": 404, "message": ..., "status": "NOT_FOUND"}}."""
    status = error.code.http_status
    return json_response(
        {"error": {"code": status, "message": error.message, "status": error.code.name}}, status
    )


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler
    name: str
    gated: bool

    @property
    def service_and_method(self) -> tuple[str, str]:
        """`firebaseml.projects.models.create` → ("firebaseml", "projects.models.create");
        an unnamed route (`GET /path`) → ("rest", "GET /path")."""
        if " " in self.name:
            return "rest", self.name
        service, _, method = self.name.partition(".")
        return service, method


def _template_pattern(template: str) -> re.Pattern[str]:
    """`/v1/projects/{project}/models/{model}` → a regex with named groups ([^/]+ each)."""
    parts = re.split(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


class RestRoutes:
    """What one REST server serves: routes by method and path template, in order."""

    def __init__(self) -> None:
        self.routes: list[_Route] = []

    def add_route(
        self, method: str, template: str, handler: RouteHandler, name: str = "", gated: bool = True
    ) -> None:
        """Serves `method template` with `handler`; `name` is its fault-injection name.

        `gated=False`: the route passes the call gate even while a reset holds it closed
        (admin routes: the reset itself, long polls).
        """
        self.routes.append(
            _Route(
                method.upper(),
                _template_pattern(template),
                handler,
                name or f"{method} {template}",
                gated,
            )
        )


class RestServer:
    """A small JSON-over-HTTP server: routes by method + path template, Google error bodies."""

    def __init__(self, host: str, port: int, faults: FaultInjector, calls: Calls) -> None:
        self._host = host
        self._port = port
        self._faults = faults
        self._calls = calls
        self._routes: list[_Route] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, routes: RestRoutes) -> None:
        """Serves `routes` from now on (requests already routed finish with the old ones)."""
        self._routes = list(routes.routes)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() first"
        return server_url(self._httpd)

    def start(self, routes: RestRoutes) -> str:
        """Listens on host:port (a free port for 0), serving `routes`; returns the base URL."""
        self.serve(routes)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: with Nagle's algorithm the body waited for the
            # client's delayed ACK (up to 40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = server.dispatch(self.command, self.path, dict(self.headers), body)
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for key, value in response.headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("rest: " + format, *args)

        self._httpd = ThreadingHTTPServer((self._host, self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="rest", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | list[str]:
        """The route serving `method path` and its parameters, or the methods allowed there."""
        allowed = []
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            return route, match.groupdict()
        return allowed

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> HttpResponse:
        """Routes one request; every error becomes Google's JSON error body."""
        url = urlparse(target)
        found = self._match(method, url.path)
        if isinstance(found, list):
            service, name, gated = "rest", f"{method} {url.path}", False
        else:
            (service, name), gated = found[0].service_and_method, found[0].gated
        with self._calls.call("rest", service, name, url.path, gated) as call:
            if gated:  # the routes may have been replaced while the call waited at the gate
                found = self._match(method, url.path)
            response = self._respond(found, method, url.path, url.query, headers, body)
            call.status = response.status
            return response

    def _respond(
        self,
        found: tuple[_Route, dict[str, str]] | list[str],
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> HttpResponse:
        if isinstance(found, list):
            if found:
                return error_response(
                    ServiceError(
                        f"{method} is not allowed on {path}; allowed: {', '.join(sorted(found))}",
                        InvalidArgument.code,
                    )
                )
            return error_response(NotFound(f"{method} {path} is not served by the emulator"))
        route, params = found
        request = HttpRequest(
            method=method,
            path=path,
            params=params,
            query=parse_qs(query),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )
        try:
            self._faults.check(route.name)
            response = route.handler(request)
            self._faults.respond(route.name)
            return response
        except ServiceError as exc:
            return error_response(exc)
        except Exception as exc:
            log.exception("REST %s %s failed", method, path)
            return error_response(ServiceError(f"{type(exc).__name__}: {exc}"))
