"""One owner's parameter and conditions edited into a shared Remote Config template.

Every edited template is checked with the emulator's validation (the reference's rules), and
what users get with its evaluation (the first true condition in the template's order wins).
"""

import json

import pytest

from components.cloud.remote_config import (
    Condition,
    Parameter,
    ParameterGroup,
    ParameterValue,
    Template,
    condition_expression,
    percent_rule,
)
from components.cloud.remote_config_edit import (
    OwnedParameter,
    ServedCondition,
    TemplateConflict,
    apply_owned,
    read_owned,
    remove_owned,
)
from emulator.core import remote_config as service
from emulator.core.remote_config_conditions import AppInstance

CANDIDATE = ServedCondition("candidate", "percent('digits_model') <= 10", "digits_v2")
US = ServedCondition("us_users", "device.country in ['us']", "digits_us")
OWNED = OwnedParameter("digits_model", "digits_v1", (CANDIDATE, US), "which model", "models")


def others() -> Template:
    """A template someone else wrote: two conditions, a parameter using one, a group."""
    return Template(
        conditions=(
            Condition("ios", "device.os == 'ios'", "BLUE"),
            Condition("holidays", "dateTime >= dateTime('2025-12-20T00:00:00')"),
        ),
        parameters={
            "welcome": Parameter(
                ParameterValue("hello"), {"ios": ParameterValue("hi")}, "greeting", "STRING"
            ),
            "dark_mode": Parameter(ParameterValue(use_in_app_default=True)),
        },
        parameter_groups={
            "ui": ParameterGroup("UI knobs", {"font": Parameter(ParameterValue("serif"))})
        },
        etag="etag-1-7",
    )


def valid(template: Template) -> service.Template:
    """The template as the service would accept it (raises what it would refuse)."""
    checked, _ = service.validate_template(template.content_json())
    return checked


def served(template: Template, **instance: str) -> str | None:
    values = service.resolve(valid(template), AppInstance(**instance))
    return values.get("digits_model")


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_owned_parameter_is_added_and_everything_else_is_kept_byte_for_byte():
    before = others()
    after = apply_owned(before, OWNED)
    valid(after)
    content, original = after.content_json(), before.content_json()
    names = [c["name"] for c in content["conditions"]]
    assert names == ["ios", "holidays", "candidate", "us_users"]
    assert content["conditions"][:2] == original["conditions"]
    for key in ("welcome", "dark_mode"):
        assert _json(content["parameters"][key]) == _json(original["parameters"][key])
    assert _json(content["parameterGroups"]["ui"]) == _json(original["parameterGroups"]["ui"])
    assert content["parameterGroups"]["models"]["parameters"]["digits_model"] == {
        "defaultValue": {"value": "digits_v1"},
        "conditionalValues": {
            "candidate": {"value": "digits_v2"},
            "us_users": {"value": "digits_us"},
        },
        "description": "which model",
        "valueType": "STRING",
    }
    assert after.etag == before.etag  # published with the ETag it was read at
    assert read_owned(after, "digits_model") == OWNED


def test_applying_again_changes_nothing():
    once = apply_owned(others(), OWNED)
    assert apply_owned(once, OWNED, OWNED).content_json() == once.content_json()


def test_first_match_wins_in_the_order_the_owner_gives():
    template = apply_owned(others(), OWNED)
    in_sample = [f"install-{i}" for i in range(2000)]
    candidates = [i for i in in_sample if served(template, randomization_id=i) == "digits_v2"]
    assert 140 <= len(candidates) <= 260  # 10 % of 2,000 installations, statistically
    lucky = candidates[0]
    # An American in the 10 %: the candidate condition comes first.
    assert served(template, randomization_id=lucky, country="us") == "digits_v2"
    reordered = OwnedParameter(OWNED.key, OWNED.value, (US, CANDIDATE), group="models")
    swapped = apply_owned(template, reordered, OWNED)
    assert [c.name for c in swapped.conditions] == ["ios", "holidays", "us_users", "candidate"]
    assert served(swapped, randomization_id=lucky, country="us") == "digits_us"
    assert served(swapped, randomization_id=lucky, country="fr") == "digits_v2"
    assert served(swapped, randomization_id="nobody-special", country="fr") in (
        "digits_v1",
        "digits_v2",
    )


def test_a_new_condition_goes_next_to_its_neighbours_not_before_others():
    base = OwnedParameter("digits_model", "digits_v1", (CANDIDATE, US))
    template = apply_owned(others(), base)
    # Someone adds a condition after the owner's ones.
    template = Template(
        conditions=(*template.conditions, Condition("beta", "app.id == '1:1:android:1'")),
        parameters=template.parameters,
        parameter_groups=template.parameter_groups,
    )
    middle = ServedCondition("canada", "device.country in ['ca']", "digits_ca")
    wanted = OwnedParameter("digits_model", "digits_v1", (CANDIDATE, middle, US))
    edited = apply_owned(template, wanted, base)
    valid(edited)
    assert [c.name for c in edited.conditions] == [
        "ios",
        "holidays",
        "candidate",
        "canada",
        "us_users",
        "beta",
    ]


def test_a_percentage_change_edits_the_condition_in_place():
    template = apply_owned(others(), OWNED)
    twenty = ServedCondition("candidate", "percent('digits_model') <= 20", "digits_v2")
    wanted = OwnedParameter(OWNED.key, OWNED.value, (twenty, US), OWNED.description, "models")
    edited = apply_owned(template, wanted, OWNED)
    assert [c.expression for c in edited.conditions if c.name == "candidate"] == [
        "percent('digits_model') <= 20"
    ]
    assert [c.name for c in edited.conditions] == [c.name for c in template.conditions]


def test_a_condition_another_parameter_uses_is_not_taken_over():
    template = others()
    ios = ServedCondition("ios", "percent <= 5", "x")
    mine = OwnedParameter("digits_model", "digits_v1", (ios,))
    with pytest.raises(TemplateConflict, match=r"condition 'ios' .* parameter\(s\) welcome use"):
        apply_owned(template, mine)
    # The same expression is shared, not a conflict.
    shared = ServedCondition("ios", "device.os == 'ios'", "x")
    same = OwnedParameter("digits_model", "v1", (shared,))
    assert read_owned(apply_owned(template, same), "digits_model") == same


def test_a_parameter_the_owner_did_not_write_is_not_taken_over():
    template = apply_owned(others(), OWNED)
    other = OwnedParameter("welcome", "bonjour")
    with pytest.raises(TemplateConflict, match="already has a parameter 'welcome'"):
        apply_owned(template, other)
    # Its own parameter, published before its state was saved, is adopted.
    assert apply_owned(template, OWNED).content_json() == template.content_json()


def test_removal_keeps_what_others_use_and_drops_an_emptied_group():
    template = apply_owned(others(), OWNED)
    shared = dict(template.parameters)
    shared["welcome"] = Parameter(
        ParameterValue("hello"), {"ios": ParameterValue("hi"), "us_users": ParameterValue("hey")}
    )
    template = Template(template.conditions, shared, template.parameter_groups, etag="etag-1-8")
    removed = remove_owned(template, OWNED)
    valid(removed)
    assert [c.name for c in removed.conditions] == ["ios", "holidays", "us_users"]
    assert "models" not in removed.parameter_groups and "ui" in removed.parameter_groups
    assert read_owned(removed, "digits_model") is None
    # Without the sharing, the template is back to what it was before.
    assert remove_owned(apply_owned(others(), OWNED), OWNED).content_json() == (
        others().content_json()
    )


def test_a_new_key_or_group_moves_the_parameter():
    template = apply_owned(others(), OWNED)
    renamed = OwnedParameter("edge_model", OWNED.value, OWNED.conditions, OWNED.description)
    moved = apply_owned(template, renamed, OWNED)
    valid(moved)
    assert read_owned(moved, "digits_model") is None
    assert "edge_model" in moved.parameters and "models" not in moved.parameter_groups
    into_ui = OwnedParameter("edge_model", OWNED.value, OWNED.conditions, group="ui")
    grouped = apply_owned(moved, into_ui, renamed)
    assert list(grouped.parameter_groups["ui"].parameters) == ["font", "edge_model"]
    assert grouped.parameter_groups["ui"].description == "UI knobs"


def test_expressions_follow_the_condition_reference():
    expression = condition_expression(
        percent=12.5,
        seed="digits_model",
        app_id="1:123:android:abc",
        app_versions=("2.0", "2.1"),
        min_app_version="2.0.1",
        countries=("US", "gb"),
    )
    assert expression == (
        "app.id == '1:123:android:abc' && app.version.exactlyMatches(['2.0', '2.1']) && "
        "app.version.>=(['2.0.1']) && device.country in ['us', 'gb'] && "
        "percent('digits_model') <= 12.5"
    )
    valid(Template(conditions=(Condition("c", expression),)))
    rule = percent_rule(expression)
    assert rule is not None and (rule.seed, rule.share) == ("digits_model", 12.5)
    between = percent_rule("percent between 10 and 25.5")
    assert between is not None and (between.seed, between.low, between.share) == ("", 10, 15.5)
    assert percent_rule("device.country in ['us']") is None
    with pytest.raises(ValueError):
        condition_expression()
