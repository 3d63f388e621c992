"""The studio's web server: the standard library's threaded HTTP server on 127.0.0.1.

The page is plain HTML, CSS and JavaScript served from this package (static/): no build step,
no CDN, no font or script from the network. The JSON API under /api/ reads the project's
specs on every request (an edit in an editor shows on reload) and writes only two things,
both files of the project: a dataset's labels file and a Model's threshold. A write must
carry the `X-Edge-Studio` header, which a page of another site cannot send without a CORS
preflight that this server never answers, and an Origin, when given, must be this server's;
every request must name this server in its Host header (127.0.0.1 or localhost and its port),
so a site whose name was made to resolve to 127.0.0.1 (DNS rebinding) is refused.
"""

from __future__ import annotations

import io
import json
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from components.spec import SpecError, SpecSet, load_specs
from components.studio.datasets import DatasetView, StudioError, add_labels, read_dataset
from components.studio.evaluation import KeptModel, kept_models

STATIC = Path(__file__).parent / "static"
HOST = "127.0.0.1"  # never another interface: the studio has no account and writes files
WRITE_HEADER = "X-Edge-Studio"
MAX_UPLOAD = 30 * 1024 * 1024  # an image: the dataset checks' limit
THUMBNAIL = 160  # pixels, the longer side


@dataclass
class Studio:
    """The project the studio shows: its specs (with a stack's overlay) and a rehearsal's
    kept models."""

    root: Path
    specs_dir: Path
    stack: str | None
    rehearsal: Path | None
    _views: dict[str, tuple[Any, DatasetView]] = field(default_factory=dict, repr=False)
    _models: dict[str, KeptModel] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def specs(self) -> SpecSet:
        try:
            return load_specs(self.specs_dir, self.stack)
        except SpecError as err:
            issues = "\n".join(issue.render() for issue in err.issues)
            raise StudioError(f"the specs do not load:\n{issues}") from None

    def dataset(self, name: str) -> DatasetView:
        """The dataset's view; read again when its spec or its source's files changed."""
        specs = self.specs()
        spec = specs.datasets.get(name)
        if spec is None:
            known = ", ".join(sorted(specs.datasets)) or "none"
            raise StudioError(f"no dataset '{name}' in {self.specs_dir} (datasets: {known})")
        key = (spec, _stamp(spec.source.path), _stamp(spec.source.labels))
        with self._lock:
            cached = self._views.get(name)
            if cached is None or cached[0] != key:
                self._views[name] = (key, read_dataset(spec, self.root))
            return self._views[name][1]

    def models(self) -> dict[str, KeptModel]:
        with self._lock:
            if self._models is None:
                self._models = kept_models(self.rehearsal) if self.rehearsal else {}
            return self._models

    def model(self, name: str) -> KeptModel:
        models = self.models()
        if name not in models:
            where = (
                f"in the rehearsal {self.rehearsal}"
                if self.rehearsal
                else "(no --rehearsal DIR was given: `edgectl rehearse --out DIR` trains and "
                "evaluates the models; then `edgectl studio --rehearsal DIR`)"
            )
            raise StudioError(f"no evaluation of model '{name}' {where}")
        return models[name]

    def overview(self) -> dict[str, Any]:
        specs = self.specs()
        return {
            "project": str(self.root),
            "specs": str(self.specs_dir),
            "stack": self.stack,
            "rehearsal": None if self.rehearsal is None else str(self.rehearsal),
            "datasets": [
                {
                    "name": d.name,
                    "classification": d.classification.value,
                    "source": d.source.kind.value,
                    "labelable": d.source.kind.value == "images" and d.source.labels is not None,
                }
                for d in specs.datasets.values()
            ],
            "models": [{"name": m, "evaluated": m in self.models()} for m in sorted(specs.models)],
        }


def _stamp(path: Path | None) -> Any:
    """What changes when a source's files change (a directory: its entries' stats)."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        st = path.stat()
        return (st.st_size, st.st_mtime_ns, st.st_ino)
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*")))


def thumbnail(data: bytes, size: int = THUMBNAIL) -> bytes:
    """A PNG no larger than `size` pixels a side (small images are enlarged by the page)."""
    from PIL import Image  # the data checks' image library

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.convert("RGB").save(out, "PNG")
        return out.getvalue()


Reply = tuple[int, str, bytes]  # status, content type, body


def _json(value: Any, status: int = HTTPStatus.OK) -> Reply:
    return status, "application/json", json.dumps(value).encode()


def _threshold(query: dict[str, list[str]]) -> float:
    raw = (query.get("threshold") or [""])[0]
    try:
        return float(raw)
    except ValueError:
        raise StudioError(f"threshold '{raw}': a number from 0 to 1 is expected") from None


class Api:
    """The routes: GET and POST paths → a function of (path parts, query, body)."""

    def __init__(self, studio: Studio):
        self.studio = studio
        self.write_lock = threading.Lock()  # one file write at a time

    def get(self, parts: list[str], query: dict[str, list[str]]) -> Reply:
        s = self.studio
        match parts:
            case ["overview"]:
                return _json(s.overview())
            case ["datasets", name]:
                return _json(s.dataset(name).to_json())
            case ["datasets", name, "unlabeled"]:
                view = s.dataset(name)
                return _json(
                    {
                        "dataset": name,
                        "classification": view.classification,
                        "labels": list(view.labels),
                        "labelsFile": str(view.labels_file),
                        "images": view.unlabeled(),
                    }
                )
            case ["image", dataset]:
                name = (query.get("name") or [""])[0]
                return HTTPStatus.OK, "image/png", thumbnail(s.dataset(dataset).read(name))
            case ["models", name]:
                return _json(s.model(name).summary())
            case ["models", name, "at"]:
                return _json(s.model(name).at(_threshold(query)))
            case ["models", name, "images"]:
                model = s.model(name)
                view = s.dataset(model.dataset)
                result = model.images_at(view, _threshold(query))
                result["datasetChanged"] = (
                    model.dataset_fingerprint is not None
                    and view.fingerprint != model.dataset_fingerprint
                )
                return _json(result)
        raise LookupError("/".join(parts))

    def post(self, parts: list[str], query: dict[str, list[str]], body: bytes) -> Reply:
        s = self.studio
        match parts:
            case ["datasets", name, "labels"]:
                new = json.loads(body or b"{}").get("labels") or {}
                with self.write_lock:
                    added = add_labels(s.dataset(name), new)
                view = s.dataset(name)
                return _json({"file": str(view.labels_file), "added": added})
            case ["models", name, "threshold"]:
                from components.studio.threshold import use_threshold  # ruamel: when asked

                value = _threshold({"threshold": [str(json.loads(body or b"{}").get("value"))]})
                specs = s.specs()
                if name not in specs.models:
                    raise StudioError(f"no Model '{name}' in {s.specs_dir}")
                with self.write_lock:
                    return _json(use_threshold(specs.models[name], value, s.specs_dir, s.stack))
            case ["models", name, "predict"]:
                from components.predict import ImageRejected  # LiteRT: only when asked

                model = s.model(name)
                threshold = _threshold(query)
                try:
                    labels = model.predictor().label(body, threshold)
                except ImageRejected as err:
                    raise StudioError(str(err)) from None
                return _json(
                    {
                        "threshold": threshold,
                        "labels": [{"label": lab, "score": score} for lab, score in labels],
                    }
                )
        raise LookupError("/".join(parts))


def make_handler(api: Api, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    # Long: the body is the request handler class (each method short), closed over `api`.
    class Handler(BaseHTTPRequestHandler):
        server_version = "edge-labeler-studio"

        def log_message(self, format: str, *args: Any) -> None:
            log(f"[studio] {self.address_string()} {format % args}")

        def _send(self, reply: Reply) -> None:
            status, ctype, body = reply
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _route(self, handle: Callable[[list[str], dict[str, list[str]]], Reply]) -> None:
            url = urlsplit(self.path)
            try:
                if url.path.startswith("/api/"):
                    parts = [unquote(p) for p in url.path[len("/api/") :].split("/")]
                    reply = handle(parts, parse_qs(url.query))
                else:
                    reply = self._static(url.path)
            except StudioError as err:
                reply = _json({"error": str(err)}, HTTPStatus.BAD_REQUEST)
            except LookupError:
                reply = _json({"error": f"no such page: {url.path}"}, HTTPStatus.NOT_FOUND)
            except (ValueError, OSError) as err:
                reply = _json({"error": f"{type(err).__name__}: {err}"}, HTTPStatus.BAD_REQUEST)
            self._send(reply)

        def _static(self, path: str) -> Reply:
            name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
            file = STATIC / name
            if "/" in name or not file.is_file():  # flat folder: no path leaves it
                raise LookupError(path)
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return HTTPStatus.OK, ctype, file.read_bytes()

        def _own_host(self) -> bool:
            """The request names this server (127.0.0.1 or localhost, its port): a page of
            another site that made its name resolve to 127.0.0.1 (DNS rebinding) does not."""
            address = self.server.server_address
            port = address[1] if isinstance(address, tuple) else None
            if self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}"):
                return True
            self._send(_json({"error": "the studio answers http://127.0.0.1 only"}, 403))
            return False

        def do_GET(self) -> None:
            if self._own_host():
                self._route(api.get)

        def do_POST(self) -> None:
            if not self._own_host():
                return
            origin = self.headers.get("Origin")
            host = self.headers.get("Host", "")
            if self.headers.get(WRITE_HEADER) != "1" or (
                origin is not None and origin != f"http://{host}"
            ):
                self._send(_json({"error": "writes come from the studio's page only"}, 403))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD:
                self._send(_json({"error": f"more than {MAX_UPLOAD} bytes"}, 413))
                return
            body = self.rfile.read(length)
            self._route(lambda parts, query: api.post(parts, query, body))

    return Handler


def make_server(
    studio: Studio, port: int, log: Callable[[str], None] = print
) -> ThreadingHTTPServer:
    """The studio's server on 127.0.0.1:`port` (0: any free port), not yet serving."""
    server = ThreadingHTTPServer((HOST, port), make_handler(Api(studio), log))
    server.daemon_threads = True
    return server
