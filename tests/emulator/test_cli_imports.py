"""Building the emulator's command line imports argparse-level modules only.

`edgectl` builds its `emulator` subcommand from emulator.cli: what that loads is loaded by every
`edgectl` command, so it must not be the servers, the facades (grpc, aiplatform) or the engine
(TensorFlow). Checked in a fresh interpreter, by the modules it holds afterwards (not by time).
"""

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures.emulator import HANG_GUARD_S, start_cli

REPO = Path(__file__).resolve().parents[2]


def _new_modules(setup: str, code: str) -> set[str]:
    """Modules that `code` adds to sys.modules after `setup` ran, in a fresh interpreter."""
    script = (
        f"import json, sys\n{setup}\nbefore = set(sys.modules)\n{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _outside_stdlib(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}


def test_the_emulator_parser_loads_only_itself_and_the_standard_library():
    loaded = _new_modules(
        "",
        "import argparse\nimport emulator.cli\n"
        "emulator.cli.configure_parser(argparse.ArgumentParser())",
    )
    assert _outside_stdlib(loaded) == {"emulator", "emulator.cli"}


def test_edgectl_builds_its_emulator_subcommand_without_the_emulator_server():
    loaded = _new_modules(
        "import argparse\nimport components.cli",
        "components.cli.add_emulator(argparse.ArgumentParser().add_subparsers())",
    )
    assert _outside_stdlib(loaded) == {"emulator", "emulator.cli"}


# What `status`, `env`, `reset` and `stop` may load: they drive a running emulator from outside
# it (its record, its process, its admin API over urllib), never its server.
CONTROL_MODULES = {
    "emulator",
    "emulator.cli",
    "emulator.control",
    "emulator.instance",
    "emulator.core",
    "emulator.core.persistence",
}


def test_the_commands_that_drive_a_running_emulator_load_no_server(tmp_path):
    data_dir = tmp_path / "data"
    process, _ = start_cli(data_dir, tmp_path / "stderr.log")
    try:
        for args in (
            ["status"],
            ["env", "--export"],
            ["reset", "--yes"],
            ["stop"],
        ):
            call = f"status = emulator.cli.main({[*args, '--data-dir', str(data_dir)]!r})"
            loaded = _new_modules(
                "", f"import emulator.cli\n{call}\nassert status == 0, status\nprint()"
            )
            assert _outside_stdlib(loaded) <= CONTROL_MODULES, args
        assert process.wait(timeout=HANG_GUARD_S) == 0  # `stop` ended it
    finally:
        process.kill()


def test_a_started_emulator_has_not_loaded_the_vertex_ai_sdk(tmp_path):
    """The Vertex AI facade imported the whole high-level SDK (`google.cloud.aiplatform`:
    1.0-1.5 s of CPU of the ~2.7 s the server's import took) for four schema URIs and the
    training task's messages, so every emulator start paid for it. The first request that
    needs them loads them (vertex_v1/schemas.py); the facade's wire types are loaded."""
    start = (
        "from pathlib import Path\nfrom emulator.server import EmulatorServer\n"
        f"server = EmulatorServer(Path({str(tmp_path / 'data')!r}))\n"
        "server.start()\nserver.stop()"
    )
    loaded = _new_modules("", start)
    assert "google.cloud.aiplatform_v1" in loaded
    assert [m for m in loaded if m.split(".")[:3] == ["google", "cloud", "aiplatform"]] == []
