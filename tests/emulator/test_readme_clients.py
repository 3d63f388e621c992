"""README.md's "Connect the official clients" runs as written: its blocks, in order, in a fresh
directory, as one shell session (the `sh` blocks as they are, each `python` block saved to a
file and run), against the emulator its first block starts.

`edgectl` and `python` are this checkout's (shims on PATH): the test runs the README's words,
not an installed copy. The timeout only guards against a hang.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.emulator import HANG_GUARD_S

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Connect the official clients"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    return BLOCK.findall(text[start : end if end != -1 else None])


def _shims(directory: Path) -> None:
    directory.mkdir()
    for name, module in (("edgectl", " -m components.cli"), ("python", "")):
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}"{module} "$@"\n')
        shim.chmod(0o755)


def test_the_section_shows_every_official_client():
    blocks = readme_blocks()
    assert [language for language, _ in blocks] == ["sh", *["python"] * 5, "sh"]
    code = "\n".join(code for _, code in blocks)
    for client in (
        "google.cloud import storage",
        "google.cloud import automl_v1",
        "google.cloud import aiplatform_v1",
        "aiplatform.init(",
        "firebase_admin",
        "emulator/v1/health",
        "env --export",
        "emulator status",
        "emulator reset --yes",
        "emulator stop",
    ):
        assert client in code, client


def test_the_readme_snippets_run_against_the_emulator(tmp_path):
    _shims(tmp_path / "bin")
    work = tmp_path / "work"
    work.mkdir()
    script = ["set -eu"]
    for i, (language, code) in enumerate(readme_blocks()):
        script.append(f"echo '### block {i} ({language})'")
        if language == "python":
            (work / f"snippet_{i}.py").write_text(code)
            script.append(f"python snippet_{i}.py")
        else:
            script.append(code)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STORAGE_EMULATOR_HOST", "EDGE_LABELER_"))
    }
    env.update(PATH=f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}", PYTHONPATH=str(REPO))
    try:
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )
    finally:  # never leave the emulator of a failed run behind
        subprocess.run(
            [sys.executable, "-m", "emulator", "stop"],
            cwd=work,
            env=env,
            capture_output=True,
            timeout=HANG_GUARD_S,
        )
    log = (work / "emulator.log").read_text() if (work / "emulator.log").exists() else ""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\nemulator.log:\n{log}"
    out = result.stdout
    assert '{"status": "ok"}' in out
    assert "['hello.txt']" in out
    assert "No model file has been uploaded." in out and "['flowers']" in out
    assert "it keeps serving on the same ports" in out
    assert "stopped the emulator on" in out
    assert not (work / ".emulator-data" / "emulator.json").exists()
    assert (work / "requests.jsonl").read_text().count("\n") > 10  # --log-requests
