"""AcceptanceGate: chooses the confidence threshold and refuses a model that misses its spec.

It reads the trained model's evaluations, chooses the threshold by the spec's policy and
checks every criterion. A model that fails makes the deployment fail with every unmet
criterion listed; the export and the publication depend on the gate, so nothing that
failed is ever shipped. Changing only `acceptance` updates the gate in place: the model
is evaluated again, not retrained.
"""

from typing import Generic, Never, TypedDict

import pulumi

from components.cloud.adapters import training_api
from components.cloud.clients import STORAGE, TRAINING, CloudInputs, CloudTarget
from components.cloud.records import read_published, read_record, record_path
from components.cloud.storage import ObjectStore
from components.evaluation.gate import (
    Baseline,
    Criteria,
    CriteriaProps,
    GateDecision,
    Observed,
    evaluate,
)
from components.providers.base import DynamicResource, Outputs, Pending, Provider, UserError
from components.spec import Model as ModelSpec

OUTPUTS = (
    "passed",
    "threshold",
    "measuredAt",
    "precision",
    "recall",
    "f1",
    "auPrc",
    "perLabel",
    "policy",
    "failures",
    "labels",
)


class GateInputs(TypedDict):
    name: str
    cloud: CloudInputs
    criteria: CriteriaProps


class GateLinks(TypedDict, Generic[Pending]):
    bucket: str | Pending
    modelName: str | Pending
    fingerprint: str | Pending  # the trained model's


class GateOutputs(GateDecision):
    labels: list[str]


class GateProps(GateInputs, GateLinks[Never]):
    """What the gate reads (not its own outputs: each decision is made anew)."""


def gate_inputs(spec: ModelSpec, target: CloudTarget) -> GateInputs:
    return {
        "name": spec.name,
        "cloud": target.as_inputs(STORAGE, TRAINING),
        "criteria": Criteria.from_acceptance(spec.acceptance).to_props(),
    }


def published_baseline(store: ObjectStore, model: str, fingerprint: str | None) -> Baseline | None:
    """The record of what this stack publishes now, for `noWorseThan: published`.

    None when nothing is published or the published model is this one; UserError naming the
    record when its gate lacks a metric compared (AuPRC, F1).
    """
    pointer = read_published(store, model)
    if not pointer:
        return None
    record = read_record(store, model, pointer["fingerprint"])
    if record is None or record.fingerprint == fingerprint:
        return None
    observed = Observed.from_props(record.gate)
    if observed.au_prc is None or observed.f1 is None:  # written by hand or by an older version
        missing = [k for k, v in (("auPrc", observed.au_prc), ("f1", observed.f1)) if v is None]
        raise UserError(
            f"{store.uri(record_path(model, record.fingerprint))}, the registry record of the "
            f"model this stack publishes, has no {' and no '.join(missing)} in its gate: "
            "`noWorseThan: published` has nothing to compare with"
        )
    return Baseline(record.fingerprint, observed.au_prc, observed.f1)


class AcceptanceGateProvider(Provider[GateProps]):
    outputs = OUTPUTS
    kind = "Model"
    replace_on = ("modelName", "cloud")
    update_on = ("criteria",)
    output_sources = dict.fromkeys(OUTPUTS, (*replace_on, *update_on))  # the gate's decision

    def _gate(self, props: GateProps) -> GateOutputs:
        target = CloudTarget.from_inputs(props["cloud"])
        criteria = Criteria.from_props(props["criteria"])
        evaluations = training_api(target).evaluations(props["modelName"])
        baseline = None
        if criteria.no_worse_than_published:
            store = ObjectStore(target, props["bucket"])
            baseline = published_baseline(store, props["name"], props.get("fingerprint"))
        result = evaluate(evaluations, criteria, baseline)
        if not result.passed:
            raise UserError(result.message(f"on stack '{target.stack}'"))
        point, au_prc = result.point, result.observed.au_prc
        assert point is not None and au_prc is not None
        self.log(props)(
            f"gate passed: threshold {point.threshold:g} ({result.policy}), precision "
            f"{point.precision:.3f}, recall {point.recall:.3f}, AuPRC {au_prc:.3f}"
        )
        return {**result.to_props(), "labels": sorted(evaluations.per_label)}

    def _create(self, props: GateProps) -> tuple[str, GateOutputs]:
        return f"{props['modelName']}/gate", self._gate(props)

    def _read(self, id_: str, props: GateProps) -> Outputs | None:
        target = CloudTarget.from_inputs(props["cloud"])
        return None if training_api(target).get_model(props["modelName"]) is None else {}

    def _update(self, id_: str, olds: GateProps, news: GateProps) -> GateOutputs:
        return self._gate(news)

    def _delete(self, id_: str, props: GateProps) -> None:
        pass  # a gate is a decision, not a cloud resource


class AcceptanceGate(DynamicResource, module="edge-labeler", name="AcceptanceGate"):
    """The acceptance decision of a trained model, and its chosen confidence threshold."""

    threshold: pulumi.Output[float]
    precision: pulumi.Output[float]
    recall: pulumi.Output[float]
    auPrc: pulumi.Output[float]
    labels: pulumi.Output[list[str]]

    provider_type = AcceptanceGateProvider
    computed_outputs = OUTPUTS
