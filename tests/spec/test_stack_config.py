"""Stack config: the committed Pulumi.<stack>.yaml files, plain mappings, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import (
    RegistryKind,
    SpecError,
    TrainingApiKind,
    load_stack_config,
    stack_config_from_mapping,
)

ROOT = Path(__file__).resolve().parents[2]


def test_local_stack_is_the_emulator():
    config = load_stack_config("local", ROOT)
    assert config.emulator and config.api == TrainingApiKind.AUTOML_V1
    assert (config.project, config.region, config.specs) == (
        "local-project",
        "us-central1",
        Path("specs"),
    )
    assert config.registry == RegistryKind.FIREBASE_ML and not config.protect


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_gcp_stacks_use_vertex(stack):
    config = load_stack_config(stack, ROOT)
    assert not config.emulator and config.api == TrainingApiKind.VERTEX
    assert config.protect == (stack == "prod")
    assert config.source == str(ROOT / f"Pulumi.{stack}.yaml")


def test_from_mapping_accepts_pulumi_strings_and_namespaced_keys():
    config = stack_config_from_mapping(
        "dev",
        {
            "edge-labeler:project": "my-proj-123",
            "emulator": "false",
            "protect": "TRUE",
            "trainingPricePerNodeHour": "18.0",
            "registry": "storage",
            "gcp:project": "ignored-namespace",
        },
    )
    assert config.project == "my-proj-123" and config.protect and not config.emulator
    assert config.training_price_per_node_hour == 18.0
    assert config.registry == RegistryKind.STORAGE
    assert config.api == TrainingApiKind.VERTEX  # default for non-emulator stacks
    assert config.source == "Pulumi config"


def test_emulator_stacks_default_to_automl_v1():
    config = stack_config_from_mapping("local", {"project": "local-project", "emulator": True})
    assert config.api == TrainingApiKind.AUTOML_V1


def test_errors_name_the_file_line_and_key(tmp_path):
    (tmp_path / "Pulumi.qa.yaml").write_text(
        "config:\n"
        "  edge-labeler:project: My_Project\n"
        "  edge-labeler:regoin: us-east1\n"
        "  edge-labeler:api: automl\n"
        "  edge-labeler:emulator: maybe\n"
        "  edge-labeler:trainingPricePerNodeHour: -3\n"
        "  edge-labeler:protect:\n"
        "    secure: AAABAKx\n"
    )
    with pytest.raises(SpecError) as raised:
        load_stack_config("qa", tmp_path)
    file = str(tmp_path / "Pulumi.qa.yaml")
    assert [issue.render() for issue in raised.value.issues] == [
        f"{file}:2:25: edge-labeler:project: 'My_Project' is not allowed (a GCP project id: "
        "6–30 lowercase letters, digits or '-', starting with a letter)",
        f"{file}:3:24: edge-labeler:regoin: unknown setting (did you mean 'region'?); settings: "
        "project, region, api, registry, emulator, specs, protect, trainingPricePerNodeHour, "
        "promoteFrom, impersonateServiceAccount, credentials, adopt",
        f"{file}:4:21: edge-labeler:api: 'automl' is not one of automl_v1, vertex "
        "(did you mean 'automl_v1'?)",
        f"{file}:5:26: edge-labeler:emulator: expected true or false",
        f"{file}:6:42: edge-labeler:trainingPricePerNodeHour: -3 is not a positive number of "
        "dollars per node hour",
        f"{file}:8:5: edge-labeler:protect: must be plain text, not a secret (only "
        "edge-labeler:impersonateServiceAccount and edge-labeler:credentials may be secrets)",
    ]


def test_missing_project_and_missing_file(tmp_path):
    with pytest.raises(SpecError) as raised:
        stack_config_from_mapping("dev", {"region": "us-central1"}, source="Pulumi config")
    assert raised.value.render() == (
        "Pulumi config: edge-labeler:project: required setting is missing (the GCP project id)"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    with pytest.raises(SpecError) as raised:
        load_stack_config("prod", tmp_path)
    assert (
        raised.value.render() == f"{tmp_path / 'Pulumi.prod.yaml'}: stack file not found "
        "(stacks: dev)"
    )


# -- promotion paths: edge-labeler:promoteFrom ------------------------------------------------


def _stack(root: Path, name: str, *lines: str, emulator: bool = False) -> Path:
    """Writes root/Pulumi.<name>.yaml with a valid project and the extra config lines."""
    path = root / f"Pulumi.{name}.yaml"
    body = [f"  edge-labeler:project: proj-{name}"]
    if emulator:
        body.append('  edge-labeler:emulator: "true"')
    path.write_text("config:\n" + "".join(f"{line}\n" for line in [*body, *lines]))
    return path


def test_committed_stacks_declare_their_promotion_paths():
    declared = {s: load_stack_config(s, ROOT).promote_from for s in ("local", "dev", "staging")}
    assert declared == {"local": (), "dev": (), "staging": ("dev",)}
    assert load_stack_config("prod", ROOT).promote_from == ("staging",)


def test_promote_from_is_a_yaml_list_or_the_json_text_pulumi_config_gives(tmp_path):
    _stack(tmp_path, "staging")
    _stack(tmp_path, "qa")
    _stack(tmp_path, "prod", "  edge-labeler:promoteFrom: [staging, qa]")
    assert load_stack_config("prod", tmp_path).promote_from == ("staging", "qa")
    # pulumi.Config hands a list over as JSON text; `pulumi config set` as one name.
    for value, expected in (('["staging", "qa"]', ("staging", "qa")), ("staging", ("staging",))):
        config = stack_config_from_mapping("prod", {"project": "proj-prod", "promoteFrom": value})
        assert config.promote_from == expected
    assert stack_config_from_mapping("prod", {"project": "proj-prod"}).promote_from == ()


def test_promote_from_errors_name_the_file_line_and_what_is_allowed(tmp_path):
    _stack(tmp_path, "staging")
    _stack(tmp_path, "local", emulator=True)
    file = _stack(tmp_path, "prod", "  edge-labeler:promoteFrom: [staging, local, prod, stagin]")
    with pytest.raises(SpecError) as raised:
        load_stack_config("prod", tmp_path)
    assert [issue.render() for issue in raised.value.issues] == [
        f"{file}:3:39: edge-labeler:promoteFrom[1]: 'local' is an emulator stack "
        "(edge-labeler:emulator: true in Pulumi.local.yaml): it is never a source for the "
        "non-emulator stack 'prod'; list stacks that are not emulators (here: staging)",
        f"{file}:3:46: edge-labeler:promoteFrom[2]: a stack cannot promote from itself",
        f"{file}:3:52: edge-labeler:promoteFrom[3]: stack 'stagin' has no Pulumi.stagin.yaml "
        "(did you mean 'staging'?); stacks: local, prod, staging",
    ]
    _stack(tmp_path, "prod", "  edge-labeler:promoteFrom: staging, local")
    with pytest.raises(SpecError) as raised:
        load_stack_config("prod", tmp_path)
    assert raised.value.render() == (
        f"{file}:3:29: edge-labeler:promoteFrom: 'staging, local' is not allowed (a list of "
        "stack names, e.g. [staging])"
    )


def test_an_emulator_stack_may_declare_another_emulator_stack(tmp_path):
    _stack(tmp_path, "local", emulator=True)
    _stack(tmp_path, "staging-emu", "  edge-labeler:promoteFrom: [local]", emulator=True)
    assert load_stack_config("staging-emu", tmp_path).promote_from == ("local",)


def test_adopt_maps_resource_names_to_cloud_ids(tmp_path):
    (tmp_path / "Pulumi.qa.yaml").write_text(
        "config:\n"
        "  edge-labeler:project: qa-project\n"
        "  edge-labeler:adopt:\n"
        "    digits-model: projects/qa-project/locations/us-central1/models/ICN1\n"
    )
    config = load_stack_config("qa", tmp_path)
    assert config.adopt == (
        ("digits-model", "projects/qa-project/locations/us-central1/models/ICN1"),
    )
    as_json = stack_config_from_mapping(
        "qa", {"project": "qa-project", "adopt": '{"ml-data-bucket": "b"}'}
    )
    assert as_json.adopt == (("ml-data-bucket", "b"),)
    with pytest.raises(SpecError) as raised:
        stack_config_from_mapping("qa", {"project": "qa-project", "adopt": {"Digits": 1}})
    assert "edge-labeler:adopt: 'Digits' is not a resource name" in raised.value.render()
