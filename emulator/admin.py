"""The emulator-only admin REST API under `/emulator/v1` (no Google API has it).

    GET    /emulator/v1/health                      {"status": "ok"}: every listener serves
    GET    /emulator/v1/env                         the client environment of this instance
    POST   /emulator/v1/reset                       empties every service's state (buckets,
                                                    objects, datasets, models, operations,
                                                    Firebase models, Remote Config templates)
                                                    and disarms faults; the instance keeps
                                                    running. {"removed": {"files", "bytes"}}
    GET    /emulator/v1/faults                      armed faults and held calls
    POST   /emulator/v1/faults                      arms one: {method, effect|code, count,
                                                    message, after, delay ("40ms")}
    DELETE /emulator/v1/faults[?method=M]           clears them (or those of M)
    GET    /emulator/v1/faults:waitHeld?step=S[&timeoutSeconds=T]
                                                    long poll: once one of the steps is held
    GET    /emulator/v1/{dataset name}/annotationSpecs   a dataset's labels and counts
Facades add their own emulator-only routes (e.g. emulator/automl_v1/operation_details.py).
Admin routes pass the call gate ungated (transport/calls.py): the reset is one, and a long poll
must not hold a reset up.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emulator.core.datasets import DatasetStore
from emulator.core.errors import Code, InvalidArgument, ServiceError
from emulator.core.faults import FaultInjector, parse_duration
from emulator.host import ServiceHost
from emulator.transport.rest import HttpRequest, HttpResponse, json_response

PREFIX = "/emulator/v1"


@dataclass(frozen=True)
class Hooks:
    """What the admin API asks of the instance: its client environment, and a reset (which
    returns what it removed)."""

    env: Callable[[], Mapping[str, str]]
    reset: Callable[[], Mapping[str, int]]


class AdminApi:
    """One method per route over the fault injector, the datasets and the instance's hooks."""

    def __init__(self, faults: FaultInjector, datasets: DatasetStore, hooks: Hooks) -> None:
        self._faults = faults
        self._datasets = datasets
        self._hooks = hooks

    def health(self, request: HttpRequest) -> HttpResponse:
        return json_response({"status": "ok"})

    def env(self, request: HttpRequest) -> HttpResponse:
        return json_response(dict(self._hooks.env()))

    def reset(self, request: HttpRequest) -> HttpResponse:
        return json_response({"removed": dict(self._hooks.reset())})

    def _faults_state(self) -> dict:
        return {"faults": [f.to_json() for f in self._faults.armed()], "held": self._faults.held()}

    def faults(self, request: HttpRequest) -> HttpResponse:
        return json_response(self._faults_state())

    def arm(self, request: HttpRequest) -> HttpResponse:
        body = request.json()
        if not isinstance(body, dict):
            raise InvalidArgument("fault: the body must be a JSON object")
        fault = self._faults.arm(
            str(body.get("method", "")),
            str(body.get("effect") or body.get("code") or ""),
            body.get("count"),
            str(body.get("message", "")),
            body.get("after", False),
            parse_duration(body["delay"], "fault") if "delay" in body else 0.0,
        )
        return json_response(fault.to_json())

    def wait_held(self, request: HttpRequest) -> HttpResponse:
        # A long poll: answers once one of the `step`s is held (the event a test waits for),
        # with `held` listing which; DEADLINE_EXCEEDED after `timeoutSeconds` (a hang guard,
        # default 600 s).
        steps = [s for s in request.query.get("step", []) if s]
        if not steps:
            raise InvalidArgument("faults:waitHeld: the query parameter 'step' is required")
        raw = request.query.get("timeoutSeconds", ["600"])[0]
        try:
            timeout = float(raw)
        except ValueError:
            raise InvalidArgument(
                f"faults:waitHeld: timeoutSeconds {raw!r} is not a number"
            ) from None
        held = self._faults.wait_held(steps, timeout)
        if not held:
            raise ServiceError(
                f"{' or '.join(steps)} was not held within {timeout:g} s (armed: "
                f"{[f.method for f in self._faults.armed()]}, held: {self._faults.held()})",
                Code.DEADLINE_EXCEEDED,
            )
        return json_response({"held": held})

    def clear(self, request: HttpRequest) -> HttpResponse:
        method = request.query.get("method", [None])[0]
        self._faults.clear(method)
        return json_response(self._faults_state())

    def annotation_specs(self, request: HttpRequest) -> HttpResponse:
        p = request.params
        name = f"projects/{p['project']}/locations/{p['location']}/datasets/{p['dataset']}"
        dataset = self._datasets.get(name)
        specs = [
            {"name": s.name, "displayName": s.display_name, "exampleCount": s.example_count}
            for s in dataset.annotation_specs
        ]
        return json_response({"annotationSpecs": specs})


def register(host: ServiceHost, hooks: Hooks) -> None:
    """Adds the admin routes (ungated) over the running instance's `hooks`."""
    api = AdminApi(host.backend.faults, host.backend.datasets, hooks)
    dataset = "projects/{project}/locations/{location}/datasets/{dataset}"
    for method, path, handler, name in (
        ("GET", "/health", api.health, "health"),
        ("GET", "/env", api.env, "env"),
        ("POST", "/reset", api.reset, "reset"),
        ("GET", "/faults", api.faults, "faults.list"),
        ("POST", "/faults", api.arm, "faults.arm"),
        ("DELETE", "/faults", api.clear, "faults.clear"),
        ("GET", "/faults:waitHeld", api.wait_held, "faults.waitHeld"),
        ("GET", f"/{dataset}/annotationSpecs", api.annotation_specs, "datasets.annotationSpecs"),
    ):
        # Named `emulator.<method>`: the request log's service and method, and the name a fault
        # could be armed on.
        host.add_route(method, f"{PREFIX}{path}", handler, f"emulator.{name}", gated=False)
