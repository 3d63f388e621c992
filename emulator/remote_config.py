"""REST facade: Firebase Remote Config v1 (`firebaseremoteconfig.googleapis.com/v1`).

Served on the emulator's REST server (the EDGE_LABELER_FIREBASE_ML_ENDPOINT address; clients
may name it EDGE_LABELER_REMOTE_CONFIG_ENDPOINT), as the REST reference has it:

    GET  /v1/projects/{p}/remoteConfig[?versionNumber=N]          ETag response header
    PUT  /v1/projects/{p}/remoteConfig[?validateOnly=true]        If-Match: <ETag> | *
    GET  /v1/projects/{p}/remoteConfig:listVersions               pageSize, pageToken,
                                                endVersionNumber, startTime, endTime
    POST /v1/projects/{p}/remoteConfig:rollback                   {"versionNumber": "N"}
    ... and the same under /v1/projects/{p}/namespaces/{namespace}/remoteConfig
        (namespace `firebase`, the client template, or `firebase-server`);
    GET  /v1/projects/{p}/namespaces/firebase-server/serverRemoteConfig   what firebase-admin's
                                                                  ServerTemplate.load() fetches.

Query parameters are accepted in their JSON (camelCase) and proto (snake_case) spellings, as
gRPC transcoding accepts both. The behaviour is emulator/core/remote_config.py's.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.core.errors import InvalidArgument, NotFound
from emulator.core.remote_config import (
    ADMIN_SDK_NODE,
    CLIENT,
    MAX_STORED_VERSIONS,
    REST_API,
    SERVER,
    VERSION_LIFETIME,
    Published,
    RemoteConfigStore,
    VersionMismatch,
    check_name,
    parse_timestamp,
    server_template_json,
)
from emulator.host import ServiceHost
from emulator.transport.rest import HttpRequest, HttpResponse, json_response

API = "firebaseremoteconfig"
V1 = "/v1/projects/{project}"
NAMESPACED = "/v1/projects/{project}/namespaces/{namespace}"

Handler = Callable[[HttpRequest], HttpResponse]


def register(
    server: ServiceHost,
    *,
    max_versions: int = MAX_STORED_VERSIONS,
    version_lifetime: timedelta = VERSION_LIFETIME,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Adds the Remote Config routes (and the template store under the state dir).

    The keyword arguments are the store's (tests shorten the retention, or move the clock).
    """
    store = RemoteConfigStore(
        server.backend.state_dir / "remote_config",
        max_versions=max_versions,
        version_lifetime=version_lifetime,
        clock=clock,
    )
    facade = RemoteConfigFacade(store)
    for prefix, method_prefix in ((V1, "projects"), (NAMESPACED, "projects.namespaces")):
        routes: tuple[tuple[str, str, Handler, str], ...] = (
            ("GET", f"{prefix}/remoteConfig", facade.get, f"{method_prefix}.getRemoteConfig"),
            ("PUT", f"{prefix}/remoteConfig", facade.update, f"{method_prefix}.updateRemoteConfig"),
            (
                "GET",
                f"{prefix}/remoteConfig:listVersions",
                facade.list_versions,
                f"{method_prefix}.remoteConfig.listVersions",
            ),
            (
                "POST",
                f"{prefix}/remoteConfig:rollback",
                facade.rollback,
                f"{method_prefix}.remoteConfig.rollback",
            ),
        )
        for method, template, handler, name in routes:
            server.add_route(method, template, _errors(handler), f"{API}.{name}")
    server.add_route(
        "GET",
        f"{NAMESPACED}/serverRemoteConfig",
        _errors(facade.get_server),
        f"{API}.projects.namespaces.getServerRemoteConfig",
    )


def _errors(handler: Handler) -> Handler:
    """A 412 for a stale ETag (the server's error body maps FAILED_PRECONDITION to 400)."""

    def route(request: HttpRequest) -> HttpResponse:
        try:
            return handler(request)
        except VersionMismatch as exc:
            error = {"code": exc.http_status, "message": exc.message, "status": exc.code.name}
            return json_response({"error": error}, exc.http_status)

    return route


# ---- wire → core ----------------------------------------------------------------------------


def _param(request: HttpRequest, *names: str) -> str:
    for name in names:
        values = request.query.get(name)
        if values:
            return values[0]
    return ""


def _int(text: str, field: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(
            f"Invalid value at '{field}' (TYPE_INT64), \"{text[:40]}\"; a whole number"
        ) from None


def _bool(text: str, field: str) -> bool:
    if text in ("", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise InvalidArgument(f"Invalid value at '{field}' (TYPE_BOOL), \"{text[:40]}\"")


def _time(text: str, field: str) -> datetime | None:
    return parse_timestamp(text, field) if text else None


def _names(request: HttpRequest) -> tuple[str, str]:
    """(project, namespace) of the request's path; the default namespace is `firebase`."""
    project = request.params["project"]
    namespace = request.params.get("namespace", CLIENT)
    check_name(project, namespace)
    return project, namespace


def _origin(request: HttpRequest) -> str:
    """Version.updateOrigin: the Node Admin SDK says who it is; anything else is REST_API."""
    client = request.headers.get("x-firebase-client", "")
    return ADMIN_SDK_NODE if client.startswith("fire-admin-node") else REST_API


# ---- routes ---------------------------------------------------------------------------------


class RemoteConfigFacade:
    """One method per route: the request in, JSON and an ETag out, ServiceError on failure."""

    def __init__(self, store: RemoteConfigStore) -> None:
        self.store = store

    def _answer(self, published: Published, document: Any = None) -> HttpResponse:
        response = json_response(published.to_json() if document is None else document)
        return HttpResponse(
            response.status, response.body, response.content_type, (("ETag", published.etag),)
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        project, namespace = _names(request)
        number = _int(_param(request, "versionNumber", "version_number"), "version_number")
        return self._answer(self.store.get(project, namespace, number))

    def update(self, request: HttpRequest) -> HttpResponse:
        project, namespace = _names(request)
        validate_only = _bool(_param(request, "validateOnly", "validate_only"), "validate_only")
        published = self.store.publish(
            project,
            namespace,
            request.json(),
            request.headers.get("if-match"),
            validate_only=validate_only,
            origin=_origin(request),
        )
        return self._answer(published)

    def list_versions(self, request: HttpRequest) -> HttpResponse:
        project, namespace = _names(request)
        versions, token = self.store.list_versions(
            project,
            namespace,
            page_size=_int(_param(request, "pageSize", "page_size"), "page_size") or 0,
            page_token=_param(request, "pageToken", "page_token"),
            end_version_number=_int(
                _param(request, "endVersionNumber", "end_version_number"), "end_version_number"
            ),
            start_time=_time(_param(request, "startTime", "start_time"), "start_time"),
            end_time=_time(_param(request, "endTime", "end_time"), "end_time"),
        )
        document: dict[str, Any] = {}
        if versions:
            document["versions"] = [v.to_json() for v in versions]
        if token:
            document["nextPageToken"] = token
        return json_response(document)

    def rollback(self, request: HttpRequest) -> HttpResponse:
        project, namespace = _names(request)
        body = request.json()
        if not isinstance(body, dict):
            raise InvalidArgument("Invalid JSON payload received. Expected an object.")
        raw = body.get("versionNumber", body.get("version_number"))
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidArgument("versionNumber is required: the version to roll back to")
        number = _int(str(raw), "version_number")
        assert number is not None
        return self._answer(
            self.store.rollback(project, namespace, number, origin=_origin(request))
        )

    def get_server(self, request: HttpRequest) -> HttpResponse:
        project, namespace = _names(request)
        if namespace != SERVER:
            raise NotFound(
                f"serverRemoteConfig is the {SERVER} namespace's template, not {namespace}'s"
            )
        published = self.store.get(project, namespace)
        return self._answer(published, server_template_json(published.template))
