"""Each provider's properties are a TypedDict, and its diff names only properties of it."""

from typing import TypedDict, get_args, get_origin, is_typeddict

import pytest

from components.providers.base import Provider
from components.providers.bucket import BucketProvider
from components.providers.dataset import DatasetProvider
from components.providers.export import ModelExportProvider
from components.providers.gate import AcceptanceGateProvider
from components.providers.promoted import PromotedModelProvider
from components.providers.publication import PublicationProvider
from components.providers.rollout import RolloutProvider
from components.providers.trained_model import TrainedModelProvider

PROVIDERS = (
    BucketProvider,
    DatasetProvider,
    TrainedModelProvider,
    AcceptanceGateProvider,
    ModelExportProvider,
    PromotedModelProvider,
    PublicationProvider,
    RolloutProvider,
)


def _props(provider: type) -> type:
    (base,) = [b for b in provider.__orig_bases__ if get_origin(b) is Provider]
    return get_args(base)[0]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.__name__)
def test_every_provider_reads_a_typeddict_holding_what_its_diff_compares(provider):
    props = _props(provider)
    assert is_typeddict(props)
    keys = props.__required_keys__ | props.__optional_keys__
    assert set(provider.replace_on) | set(provider.update_on) <= keys
    assert "name" in keys and "cloud" in keys


def test_a_misspelt_property_in_replace_on_is_refused_when_the_provider_is_defined():
    class Props(TypedDict):
        name: str
        budgetMilliNodeHours: int

    with pytest.raises(TypeError, match="budgetMiliNodeHours: not in Props"):

        class Misspelt(Provider[Props]):
            replace_on = ("budgetMiliNodeHours",)
