"""Runs `__main__.py` for one stack under `pulumi.runtime.set_mocks`; prints what it declared.

`python -m tests.program.run_program STACK [PROJECT_DIR [PROGRAM]]` (with the working directory
the Pulumi project, ROOT by default; PROGRAM: another program file than `__main__.py`) prints
one JSON object:
{"resources": [{type, name, parent, protect, dependencies, inputs}], "error": str | null,
 "wire": str}: `wire` is every request the program sent the engine (registrations, their
outputs, the stack's outputs, invokes), as text, for tests that grep it.
EDGE_LABELER_TEST_SECRET_CONFIG (JSON, key → plain text) adds config values that the
runtime marks secret, as `pulumi config set --secret` values reach a program;
EDGE_LABELER_TEST_EXTRA_CONFIG (JSON) adds plain ones.
A fresh process per stack, because the Pulumi runtime's settings are process-global.
"""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.providers import dataset, export, gate, promoted, publication, trained_model

ROOT = Path(__file__).resolve().parents[2]
SECRET_CONFIG_ENV = "EDGE_LABELER_TEST_SECRET_CONFIG"
EXTRA_CONFIG_ENV = "EDGE_LABELER_TEST_EXTRA_CONFIG"  # plain values added to the stack file's
NUMERIC = {
    "trainCostMilliNodeHours",
    "imageCount",
    "exampleCount",
    "uploadedImages",
    "threshold",
    "measuredAt",
    "precision",
    "recall",
    "f1",
    "auPrc",
    "modelSize",
}
DYNAMIC_OUTPUTS = {
    "Dataset": dataset.OUTPUTS,
    "TrainedModel": trained_model.OUTPUTS,
    "AcceptanceGate": gate.OUTPUTS,
    "ModelExport": export.OUTPUTS,
    "Publication": publication.OUTPUTS,
    "PromotedModel": promoted.OUTPUTS,
}


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also recording parent, protect and dependencies."""

    def __init__(self, m: mocks.Mocks):
        super().__init__(m)
        self.registrations: list[dict[str, Any]] = []
        self.wire: list[str] = []  # every request, as text

    def RegisterResourceOutputs(self, request):
        self.wire.append(str(request))
        return super().RegisterResourceOutputs(request)

    def Invoke(self, request):
        self.wire.append(str(request))
        return super().Invoke(request)

    def RegisterResource(self, request):
        self.wire.append(str(request))
        response = super().RegisterResource(request)
        self.registrations.append(
            {
                "type": request.type,
                "name": request.name,
                "urn": response.urn,
                "parent": request.parent,
                "protect": request.protect,
                "dependencies": sorted(request.dependencies),
                "propertyDependencies": {
                    k: sorted(v.urns) for k, v in request.propertyDependencies.items()
                },
                "custom": request.custom,
                "additionalSecretOutputs": list(request.additionalSecretOutputs),
                "importId": request.importId,
            }
        )
        return response


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[(args.typ, args.name)] = args.inputs
        # What a provider computes (declared as None inputs, which are not sent) gets a
        # placeholder, as the engine would return real values.
        computed = DYNAMIC_OUTPUTS.get(args.typ.rsplit(":", 1)[-1], ())
        state = {
            **{k: 0 if k in NUMERIC else f"<{args.name}.{k}>" for k in computed},
            **args.inputs,
        }
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789012", "projectId": args.args.get("projectId")}
        return {}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def run(stack: str, root: Path = ROOT, program: Path | None = None) -> dict[str, Any]:
    config = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"]
    secrets = json.loads(os.environ.get(SECRET_CONFIG_ENV, "{}"))
    config = {k: v for k, v in config.items() if k not in secrets}
    config.update(json.loads(os.environ.get(EXTRA_CONFIG_ENV, "{}")))
    m = Mocks()
    monitor = RecordingMonitor(m)
    pulumi.runtime.set_mocks(m, project="edge-labeler", stack=stack, preview=False, monitor=monitor)
    # As the engine passes them: text as is, structured values (promoteFrom lists) as JSON.
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in {**config, **secrets}.items()},
        list(secrets),
    )
    error = None
    try:
        # As the language host does: run the program, then wait for every registration.
        _sync_await(
            run_pulumi_func(
                lambda: runpy.run_path(str(program or root / "__main__.py"), run_name="__main__")
            )
        )
    except pulumi.RunError as err:
        error = str(err)
    resources = []
    for r in monitor.registrations:
        inputs = m.inputs.get((r["type"], r["name"]), {})
        resources.append(
            {
                **r,
                "inputs": {k: _jsonable(v) for k, v in inputs.items() if k != "__provider"},
                "serialized_provider": "__provider" in inputs,
            }
        )
    return {"resources": resources, "error": error, "wire": "\n".join(monitor.wire)}


def program_result(
    stack: str,
    root: Path = ROOT,
    program: Path | None = None,
    secrets: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`run` in a fresh process (the Pulumi runtime's settings are process-global), in the
    project directory `root` as the Pulumi CLI runs a program; `secrets`: config values set
    as secrets, `config` more plain values (structured ones as JSON text, as Pulumi hands them)."""
    args = [stack, str(root), *([str(program)] if program is not None else [])]
    out = subprocess.run(
        [sys.executable, "-m", "tests.program.run_program", *args],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            SECRET_CONFIG_ENV: json.dumps(secrets or {}),
            EXTRA_CONFIG_ENV: json.dumps(config or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


if __name__ == "__main__":
    args = sys.argv[1:]
    root = Path(args[1]) if len(args) > 1 else ROOT
    print(json.dumps(run(args[0], root, Path(args[2]) if len(args) > 2 else None)))
