"""What a user installs: `pip install .` gives a working edgectl that names its version, finds
its schemas (package data) and declares its dependencies; the schemas editors read."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata, resources
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from components.cli import main
from components.spec import load_specs
from components.spec.schema import KINDS, combined_schema, schema_path

ROOT_VERSION = re.compile(r"^edgectl \d+\.\d+\.\d+$")


def test_edgectl_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert ROOT_VERSION.match(capsys.readouterr().out.strip())


# --- what `pip install .` gives ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def _pins(file: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_runtime_pin_is_a_declared_dependency_in_its_range():
    declared = {canonicalize_name(r.name): r for r in _declared()}
    pins = _pins("requirements.txt")
    assert set(pins) <= set(declared), set(pins) - set(declared)
    for name, version in pins.items():
        assert declared[name].specifier.contains(version), (name, version, declared[name])
    # The declared dependencies that are not pinned (installed as the pins' own dependencies)
    # are satisfied by what the pins installed.
    for name, requirement in declared.items():
        assert requirement.specifier.contains(metadata.version(name)), (name, requirement)


def test_schemas_are_package_data_read_through_importlib_resources():
    files = resources.files("components") / "schemas"
    names = {f.name for f in files.iterdir()}
    for kind in (*KINDS, "review", "spec"):
        assert f"{kind.lower()}.schema.json" in names
        assert schema_path(kind).is_file()
    assert not (ROOT / "schemas").exists()  # one copy, inside the package


def test_combined_schema_is_generated_and_validates_each_document_by_kind():
    schema = json.loads(schema_path("spec").read_text(encoding="utf-8"))
    assert schema == combined_schema(), "run `make docs` after changing a kind's schema"
    assert schema["$id"] == "urn:edge-labeler:schemas:v1:spec"
    validator = Draft202012Validator(schema)
    validator.check_schema(schema)
    documents = list(yaml.safe_load_all((ROOT / "specs" / "digits.yaml").read_text()))
    assert {d["kind"] for d in documents} >= {"Bucket", "Dataset", "Model", "Publication"}
    for document in documents:
        assert list(validator.iter_errors(document)) == []
    bucket = next(d for d in documents if d["kind"] == "Bucket")
    wrong = {**bucket, "spec": {**bucket["spec"], "storageClas": "STANDARD"}}
    assert [e.validator for e in validator.iter_errors(wrong)] == ["additionalProperties"]
    assert list(validator.iter_errors({**bucket, "kind": "Bukket"}))  # not a kind


def test_example_spec_names_its_schema_for_editors():
    spec = ROOT / "specs" / "digits.yaml"
    first = spec.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../components/schemas/spec.schema.json"
    target = (spec.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == Path(str(schema_path("spec"))).resolve()
    # The loader reads the file as before (a comment); `edgectl review` ignoring it is
    # tests/review/test_review.py::test_schema_modeline_changes_nothing.
    assert load_specs(ROOT / "specs").models["digits"] is not None


def _pip_install_offline_reason(venv: Path, project: Path) -> str | None:
    """Installs `project` into `venv` (`pip install --no-deps`, not editable); the reason it
    could not be built (no index reachable for the build backend), or None."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", str(project)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode == 0:
        return None
    if "setuptools" in done.stderr and ("No matching distribution" in done.stderr or
                                        "connection" in done.stderr.lower()):  # fmt: skip
        return "pip could not fetch the build backend (setuptools>=68): " + done.stderr[-300:]
    raise AssertionError(f"pip install failed:\n{done.stdout}\n{done.stderr}")


def test_pip_install_gives_an_edgectl_that_validates_from_another_directory(tmp_path):
    """`pip install .` (no editable install) into a fresh venv, then `edgectl validate specs`
    in a directory that is not the checkout.

    The dependencies are the project's venv's (a `.pth` file names its site-packages: no
    download of TensorFlow & co.); edge-labeler itself is built from a copy of the sources and
    installed as a wheel with `--no-deps`. pip fetches the build backend from the package index:
    without one the test is skipped, saying so.
    """
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("components", "emulator"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "edge_labeler_test_deps.pth").write_text("\n".join(deps) + "\n")
    reason = _pip_install_offline_reason(venv, source)
    if reason is not None:
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    shutil.rmtree(source)  # nothing may be read from the sources any more

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(ROOT / "specs", elsewhere / "specs")
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, elsewhere / stack_file.name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import components, importlib.metadata as m; print(components.__file__); "
         "print(m.version('edge-labeler')); print(len(m.requires('edge-labeler')))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    module, version, requires = where.stdout.split()
    assert Path(module).is_relative_to(site)  # the installed copy, not a checkout
    assert version == metadata.version("edge-labeler") and int(requires) == len(_declared())
    assert (site / "components" / "schemas" / "spec.schema.json").is_file()
    done = subprocess.run(
        [str(venv / "bin" / "edgectl"), "validate", "specs"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
