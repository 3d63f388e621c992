"""Runs the policy pack (policy/) as the Pulumi CLI does, on what a program declared.

The CLI starts a Python policy pack with `python -u -m pulumi.policy <engine> .` in the pack's
folder (its `pulumi-analyzer-policy-python` shim), the stack's name and config in PULUMI_STACK
and PULUMI_CONFIG, reads the port the pack prints, and calls it over gRPC: GetAnalyzerInfo,
Configure (the policy config), ConfigureStack, then Analyze for each resource (its inputs
without internal `__` keys, and its options) and AnalyzeStack for all of them. This does the
same with the registrations tests/program/run_program.py records under mocks, so the policies
run inside pulumi-policy's own analyzer server, as in `pulumi preview --policy-pack policy`.

The pack runs on this interpreter (`make venv` installs pulumi-policy into .venv); set
EDGE_LABELER_POLICY_PYTHON=policy/venv/bin/python to run it in the pack's own virtualenv, the
one the CLI uses (policy/requirements.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.program.run_program import ROOT

PACK = ROOT / "policy"
PYTHON = os.environ.get("EDGE_LABELER_POLICY_PYTHON") or sys.executable
PROJECT = "edge-labeler"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}


@dataclass(frozen=True)
class Diagnostic:
    """One policy violation as the engine receives it."""

    policy: str
    level: str  # advisory | mandatory
    resource: str  # the resource's name (from its URN)
    message: str


@dataclass(frozen=True)
class Analysis:
    policies: dict[str, str]  # name → default enforcement level (GetAnalyzerInfo)
    diagnostics: list[Diagnostic]
    stack_diagnostics: list[Diagnostic]  # from AnalyzeStack


def stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """`config:` of Pulumi.<stack>.yaml."""
    import yaml

    return yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"]


def _as_cli_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A stack's config as the CLI hands it over: text as is, structured values as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(value), struct_pb2.Struct())


def _options(r: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=r["protect"], parent=r["parent"])


def _diagnostic(d: analyzer_pb2.AnalyzeDiagnostic, urn: str) -> Diagnostic:
    # The engine reports a violation against the analyzed resource's URN.
    return Diagnostic(d.policyName, LEVELS[d.enforcementLevel], urn.rsplit("::", 1)[-1], d.message)


def _start(stack: str, config: Mapping[str, Any]) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the pack stands alone
    env |= {
        "PULUMI_PROJECT": PROJECT,
        "PULUMI_STACK": stack,
        "PULUMI_DRY_RUN": "true",
        "PULUMI_CONFIG": json.dumps(_as_cli_config(config)),
    }
    process = subprocess.Popen(
        [str(Path(PYTHON).absolute()), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the policy pack did not start: {line!r}\n{err}")
    return process, int(line)


def analyze(
    resources: list[dict[str, Any]],
    stack: str,
    config: Mapping[str, Any],
    policy_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Analysis:
    """The pack's diagnostics on `resources` (run_program's records) of `stack`, whose
    Pulumi.<stack>.yaml config is `config`; `policy_config` as a `--policy-pack-config` file
    holds it (per policy: `enforcementLevel` and properties)."""
    process, port = _start(stack, config)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty())
            if policy_config:
                stub.Configure(
                    analyzer_pb2.ConfigureAnalyzerRequest(
                        policyConfig={
                            name: analyzer_pb2.PolicyConfig(
                                enforcementLevel=next(
                                    k
                                    for k, v in LEVELS.items()
                                    if v == settings.get("enforcementLevel", "mandatory")
                                ),
                                properties=_struct(
                                    {k: v for k, v in settings.items() if k != "enforcementLevel"}
                                ),
                            )
                            for name, settings in policy_config.items()
                        }
                    )
                )
            stub.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=stack,
                    project=PROJECT,
                    organization="organization",
                    dry_run=True,
                    config=_as_cli_config(config),
                )
            )
            diagnostics = []
            for r in resources:
                response = stub.Analyze(
                    analyzer_pb2.AnalyzeRequest(
                        urn=r["urn"],
                        type=r["type"],
                        name=r["name"],
                        properties=_struct(r["inputs"]),
                        options=_options(r),
                    )
                )
                diagnostics += [_diagnostic(d, r["urn"]) for d in response.diagnostics]
            stack_response = stub.AnalyzeStack(
                analyzer_pb2.AnalyzeStackRequest(
                    resources=[
                        analyzer_pb2.AnalyzerResource(
                            urn=r["urn"],
                            type=r["type"],
                            name=r["name"],
                            properties=_struct(r["inputs"]),
                            options=_options(r),
                            parent=r["parent"],
                            dependencies=r["dependencies"],
                        )
                        for r in resources
                    ]
                )
            )
            stack_diagnostics = [_diagnostic(d, d.urn) for d in stack_response.diagnostics]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    policies = {p.name: LEVELS[p.enforcementLevel] for p in info.policies}
    return Analysis(policies, diagnostics, stack_diagnostics)
