"""The HTTP session of the Cloud Storage clients: google-auth's `AuthorizedSession`, with
requests' per-request bookkeeping done once per origin instead of on every request.

The storage library sends every JSON API call and every media upload through its client's
`_http` object (documented as anything with `requests.Session.request`'s interface). A 5 KB
upload cost the client ~0.8 ms of CPU, and about a fifth of it was requests' `Session.request`
preparing what it always prepares the same way: merging the environment's proxy and CA
settings (`os.environ`, `no_proxy` matching), looking up `~/.netrc`, preparing an empty cookie
jar into every request and reading the cookies of every response, parsing the same upload URL
again. A first import of 10,000 images makes 10,000 such requests on one core (the GIL).

`StorageSession.request` keeps everything that decides what goes on the wire and what comes
back: google-auth applies and refreshes the credentials (its refresh-and-retry on 401 and its
mutual TLS are untouched, they sit above this class); the request is a real
`requests.PreparedRequest`, sent by the session's mounted adapter (so urllib3's errors become
requests' exceptions exactly as they do for any requests session, and the storage library's
retry predicates classify them as before); the response is a real `requests.Response`
(streamed downloads read `response.raw` as before). What it does once per origin (scheme and
host) instead of per request: the environment's proxies and CA bundle (`HTTPS_PROXY`,
`NO_PROXY`, `REQUESTS_CA_BUNDLE`, …) and the netrc lookup; environment changes after a
session's first request to an origin are not seen by that session (sessions live as long as
one provider process). Every case this shortcut does not cover takes requests' own path
unchanged: cookies in the session (a server that sets one), per-request params, files, json,
auth, proxies, verify or cert, hooks, `allow_redirects=False`, a netrc entry for the host.
Redirects are followed as requests follows them.
"""

import datetime
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, get_netrc_auth

# Connections kept per host: as many as the busiest caller runs threads (uploads: 32). The
# default adapter keeps 10 and opens, then drops, a connection (a TLS handshake to Google)
# for every concurrent request beyond them.
CONNECTIONS = 32


class _Adapter(HTTPAdapter):
    """requests' adapter, reading a response's cookies only when it sets some."""

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        if "set-cookie" in resp.headers:
            return super().build_response(req, resp)
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode() if isinstance(req.url, bytes) else req.url  # type: ignore[assignment]
        response.request = req
        response.connection = self
        return response


class _Origin(NamedTuple):
    """What requests reads from the environment for one scheme and host."""

    proxies: Mapping[str, str]
    verify: Any  # True, or the CA bundle's path
    netrc: bool  # ~/.netrc has credentials for the host


class _OncePerOrigin(requests.Session):
    """`requests.Session` whose `request` prepares the per-origin settings once (see the
    module docstring); everything else is requests' own."""

    def __init__(self) -> None:
        super().__init__()
        self._origins: dict[str, _Origin] = {}
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        for prefix in ("https://", "http://"):
            self.mount(prefix, _Adapter(pool_connections=4, pool_maxsize=CONNECTIONS))

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        origin = self._origin(url) if isinstance(url, str) else None
        if (
            origin is None
            or origin.netrc  # requests would send the entry's credentials
            or params
            or cookies
            or files
            or auth
            or proxies
            or hooks
            or json is not None
            or verify is not None
            or cert is not None
            or not allow_redirects
            or self.params
            or self.auth is not None
            or len(self.cookies)
            or any(self.hooks.values())
        ):
            return super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                cookies=cookies,
                files=files,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
                proxies=proxies,
                hooks=hooks,
                stream=stream,
                verify=verify,
                cert=cert,
                json=json,
            )
        assert isinstance(url, str)
        request = requests.PreparedRequest()
        request.prepare_method(method)
        request.url = self._prepared_url(url)
        request.prepare_headers(self._headers(headers))
        request.prepare_body(data, None, None)
        request.prepare_auth(None, request.url)
        request.prepare_hooks(None)
        kwargs: dict[str, Any] = {
            "stream": self.stream if stream is None else stream,
            "timeout": timeout,
            "verify": origin.verify,
            "cert": self.cert,
            "proxies": origin.proxies,
        }
        adapter = self.get_adapter(request.url)
        start = time.perf_counter()
        response = adapter.send(request, **kwargs)
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - start)
        if "set-cookie" in response.headers:
            extract_cookies_to_jar(self.cookies, request, response.raw)  # type: ignore[no-untyped-call]
        if response.is_redirect:
            request._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # empty: see above
            history = list(self.resolve_redirects(response, request, **kwargs))
            history.insert(0, response)
            response = history.pop()
            response.history = history
        if not kwargs["stream"]:
            response.content  # noqa: B018 (reads the body, as requests does)
        return response

    def _headers(self, headers: Mapping[str, Any] | None) -> CaseInsensitiveDict[Any]:
        """The session's headers updated by the request's, without those set to None (what
        requests' `merge_setting` makes, without its generic list conversions)."""
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        if headers:
            merged.update(headers)
            for key in [key for key, value in headers.items() if value is None]:
                del merged[key]
        return merged

    def _origin(self, url: str) -> _Origin | None:
        """The environment's proxies and CA bundle, and the netrc entry, for `url`'s scheme and
        host; None for a URL requests would refuse or treat specially (let it)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._origins.get(key)
        if found is None:
            settings = self.merge_environment_settings(key, {}, None, None, None)
            netrc = get_netrc_auth(key) if self.trust_env else None
            found = _Origin(settings["proxies"], settings["verify"], netrc is not None)
            with self._lock:
                self._origins[key] = found
        return found

    def _prepared_url(self, url: str) -> str:
        """`url` as requests prepares it (IDNA host, quoting), prepared once per URL: the
        storage library sends every upload of a bucket to one URL."""
        prepared = self._urls.get(url)
        if prepared is None:
            probe = requests.PreparedRequest()
            probe.prepare_url(url, None)
            prepared = probe.url
            assert prepared is not None
            with self._lock:
                if len(self._urls) >= 256:
                    self._urls.clear()
                self._urls[url] = prepared
        return prepared


class StorageSession(AuthorizedSession, _OncePerOrigin):  # type: ignore[misc]  # untyped base
    """google-auth's AuthorizedSession for `credentials` over `_OncePerOrigin`."""

    def __init__(self, credentials: Credentials, **kwargs: Any) -> None:
        super().__init__(credentials, **kwargs)  # type: ignore[no-untyped-call]
