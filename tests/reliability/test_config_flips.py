"""Flipping one stack setting replaces exactly the resources that setting places.

Every provider's `replace_on` holds the `cloud` input; before it was split per provider, flipping
`edge-labeler:registry` (which only Publications read) replaced every resource of the stack,
datasets and trainings included. Plans are the review's (components/review/plan.py): each
resource's inputs from the providers' own `*_inputs` and `check`, compared with each
provider's `replace_on` / `update_on`.
"""

from dataclasses import asdict, replace
from pathlib import Path

import pytest

from components.cloud.clients import cloud_target
from components.review.changes import resource_change
from components.review.plan import Checker, Computed, plan_stack
from components.spec import load_specs
from components.spec.stack import RegistryKind, StackConfig, TrainingApiKind, load_stack_config

ROOT = Path(__file__).resolve().parents[2]
ALL = {
    "ml-data-bucket",
    "digits-dataset",
    "digits-model",
    "digits-gate",
    "digits-export",
    "digits-publication",
}
TRAINING = {"digits-dataset", "digits-model", "digits-gate", "digits-export"}


def _flip(key: str, config: StackConfig) -> StackConfig:
    flips = {
        "project": {"project": "another-project"},
        "region": {"region": "europe-west4"},
        "api": {"api": TrainingApiKind.VERTEX},
        "registry": {"registry": RegistryKind.STORAGE},
        "emulator": {"emulator": False},
        "protect": {"protect": True},
        "trainingPricePerNodeHour": {"training_price_per_node_hour": 99.0},
        "specs": {"specs": ROOT / "specs"},  # the same directory, spelled absolute
        "impersonateServiceAccount": {"access": (("impersonateServiceAccount", False),)},
        "credentials": {"access": (("credentials", True),)},
        "adopt": {"adopt": (("digits-model", "projects/p/locations/l/models/1"),)},
    }
    return replace(config, **flips[key])


# What each setting places: flipping it replaces these resources, and nothing else.
EXPECTED = {
    "project": ALL,
    "emulator": ALL,
    "region": TRAINING,
    "api": TRAINING,
    "registry": set(),  # read by nothing: a Publication's spec.target picks its registry
    "protect": set(),  # a resource option (pulumi refuses deletes), not an input
    "trainingPricePerNodeHour": set(),  # only the review's cost estimate reads it
    "specs": set(),
    # How the providers authenticate: read from the providers' configure call, in no input.
    "impersonateServiceAccount": set(),
    "credentials": set(),
    "adopt": set(),  # the `import_` option of the next `pulumi up`, not an input
}


@pytest.fixture(scope="module")
def local():
    config = load_stack_config("local", ROOT)
    specs = load_specs(ROOT / "specs", stack="local")
    checker = Checker()
    return config, specs, checker, plan_stack(specs, config, ROOT, checker)


def test_every_setting_is_covered():
    from components.spec.stack import KEYS

    assert set(EXPECTED) >= set(KEYS) - {"promoteFrom"}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_flipping_a_setting_replaces_only_what_it_places(local, key):
    config, specs, checker, base = local
    head = plan_stack(specs, _flip(key, config), ROOT, checker)
    assert not head.errors
    replaced = set()
    for rkey, old in base.resources.items():
        change = resource_change(old, head.resources.get(rkey))
        if change is not None and change.action == "replace":
            replaced.add(old.name)
    assert replaced == EXPECTED[key], key


def test_state_from_before_the_narrowed_cloud_input_changes_nothing(local):
    """Stacks deployed when every `cloud` input held all settings see no change on upgrade."""
    config, _, _, plan = local
    full = asdict(cloud_target(config))
    for declared in plan.resources.values():
        news = _known(declared.inputs)
        olds = {**news, "cloud": full}
        if isinstance(news.get("source"), dict) and "cloud" in news["source"]:
            olds["source"] = {**news["source"], "cloud": full}
        assert not declared.provider().diff("id", olds, news).changes, declared.name


def _known(inputs):
    """Plan inputs with computed values as placeholders equal on both sides."""
    return {k: ("(computed)" if isinstance(v, Computed) else v) for k, v in inputs.items()}
