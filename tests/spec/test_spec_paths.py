"""Local paths in specs stay inside the project root, symlinks resolved (components/spec/paths.py).

tests/reliability/test_crafted_specs.py escapes through every path field with `edgectl
validate`; these pin down which directory is the root and the less common ways out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.spec import SpecError, load_specs
from components.spec.paths import ROOT_RULE, project_root, root_relative
from tests.spec.spec_tree import BASE_YAML, write_tree


def _errors(directory: Path, stack: str | None = None) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_specs(directory, stack)
    return [issue.render() for issue in raised.value.issues]


def test_root_is_the_nearest_directory_with_pulumi_yaml_or_git(tmp_path: Path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "infra" / "specs").mkdir(parents=True)
    (tmp_path / "repo" / "specs").mkdir()
    (tmp_path / "repo" / "infra" / "Pulumi.yaml").write_text("name: p\n")
    real = tmp_path.resolve()
    assert project_root(tmp_path / "repo" / "specs") == real / "repo"
    assert project_root(tmp_path / "repo" / "infra" / "specs") == real / "repo" / "infra"
    (tmp_path / "repo" / "specs" / ".git").write_text("gitdir: elsewhere\n")  # a worktree
    assert project_root(tmp_path / "repo" / "specs") == real / "repo" / "specs"


def test_root_without_markers_is_the_spec_directorys_parent(tmp_path: Path):
    (tmp_path / "project" / "specs-x").mkdir(parents=True)
    assert project_root(tmp_path / "project" / "specs-x") == tmp_path.resolve() / "project"


def test_root_of_this_repository_is_its_checkout():
    checkout = Path(__file__).resolve().parents[2]
    assert (checkout / "Pulumi.yaml").is_file()
    assert project_root(checkout / "specs") == checkout


def test_data_beside_the_specs_is_inside(tmp_path: Path):
    write_tree(
        tmp_path,
        {"specs-x/all.yaml": BASE_YAML.replace("data/digits.zip", "../data/x.zip")},
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.zip").write_bytes(b"")
    specs = load_specs(tmp_path / "specs-x")
    assert specs.datasets["digits"].source.path == (tmp_path / "data" / "x.zip").resolve()


def test_a_path_written_in_an_overlay_is_confined_too(spec_dir: Path):
    root = Path.cwd().resolve()
    write_tree(
        Path.cwd(),
        {
            "specs/envs/prod.yaml": """\
                apiVersion: edge-labeler/v1
                kind: Dataset
                metadata: {name: digits}
                spec: {source: {zip: ../../../x.zip}}
            """
        },
    )
    assert _errors(spec_dir, "prod") == [
        f"specs/envs/prod.yaml:4:22: Dataset 'digits' spec.source.zip: '../../../x.zip' "
        f"resolves to {root.parent / 'x.zip'}, outside the project root {root}; paths in "
        f"specs must stay inside {root} ({ROOT_RULE})"
    ]


def test_a_spec_file_that_is_a_symlink_out_of_the_root_is_not_read(spec_dir: Path):
    outside = Path.cwd().resolve().parent / f"{Path.cwd().name}-outside.yaml"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (spec_dir / "leak.yaml").symlink_to(outside)
    errors = _errors(spec_dir)
    assert errors == [
        f"specs/leak.yaml:1:1: 'leak.yaml' resolves to {outside}, outside the project root "
        f"{Path.cwd().resolve()}; paths in specs must stay inside {Path.cwd().resolve()} "
        f"({ROOT_RULE})"
    ]


def test_a_symlink_loop_is_an_error_not_a_traceback(spec_dir: Path):
    os.symlink("loop.zip", spec_dir / "data" / "loop.zip")
    (spec_dir / "base.yaml").write_text(
        (spec_dir / "base.yaml").read_text().replace("digits.zip", "loop.zip")
    )
    (error,) = _errors(spec_dir)
    assert error.startswith(
        "specs/base.yaml:11:17: Dataset 'digits' spec.source.zip: 'data/loop.zip' cannot be "
        "resolved: "
    )


def test_an_absolute_path_inside_the_root_is_accepted_with_a_warning(spec_dir: Path):
    absolute = (spec_dir / "data" / "digits.zip").resolve()
    (spec_dir / "base.yaml").write_text(
        (spec_dir / "base.yaml").read_text().replace("data/digits.zip", f"'{absolute}'")
    )
    specs = load_specs(spec_dir)
    assert specs.datasets["digits"].source.path == absolute
    assert [w.field for w in specs.warnings] == ["spec.source.zip"]
    assert root_relative(absolute, Path.cwd()) == "specs/data/digits.zip"


def test_root_relative_never_gives_an_absolute_path(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert root_relative(tmp_path / "a" / "x.zip", tmp_path / "a") == "x.zip"
    assert root_relative(tmp_path / "x.zip", tmp_path / "a" / "b") == "../../x.zip"
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    assert root_relative(tmp_path / "link" / "x.zip", tmp_path / "a") == "x.zip"
