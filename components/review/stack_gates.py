"""The rehearsed model judged against every stack's acceptance gate.

A rehearsal trains each model once, on its own stack (`local`). A pull request that loosens
or tightens another stack's gate — or a model that passes `local`'s gate but would fail
prod's — shows here: the model's evaluations are checked against the acceptance each stack
declares (its overlay applied) with the one gate check (components/evaluation/gate.py). A
stack that trains chooses its own threshold (`evaluate`); a stack whose Model is a promotion
pin serves the threshold its source stack chose, and checks its own minima at that threshold
(`check`), as `PromotedModel` does. `noWorseThan: published` compares with what a stack
serves, which a rehearsal cannot see: it is named, not judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from components.evaluation.gate import (
    Criteria,
    GateResult,
    Observed,
    check,
    evaluate,
    show_metric,
)
from components.evaluation.metrics import Evaluations
from components.spec import SpecError, SpecSet, load_specs, load_stack_config
from components.spec.stack import stack_names


@dataclass(frozen=True)
class StackVerdict:
    """One model on one stack: its gate's result, or why it was not judged."""

    stack: str
    model: str
    result: GateResult | None = None
    promoted_from: str | None = None
    no_worse_than_published: bool = False
    error: str | None = None  # the stack could not be judged (it does not load)
    absent: bool = False  # the stack declares no such Model

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.result is not None and not self.result.passed)


def judge_on_stacks(
    project_dir: Path, evaluations: Mapping[str, Evaluations]
) -> tuple[StackVerdict, ...]:
    """Each model of `evaluations` (by name) against the gate of every stack of the project."""
    specs: dict[str, SpecSet | str] = {}
    for stack in stack_names(project_dir):
        try:
            config = load_stack_config(stack, project_dir)
            specs[stack] = load_specs(project_dir / config.specs, stack)
        except SpecError as err:
            specs[stack] = err.render().replace(f"{project_dir}/", "")
    verdicts = []
    for model in sorted(evaluations):
        for stack in specs:
            verdicts.append(_verdict(stack, model, specs, evaluations[model], ()))
    return tuple(verdicts)


def _verdict(
    stack: str,
    model: str,
    specs: Mapping[str, SpecSet | str],
    evaluations: Evaluations,
    seen: tuple[str, ...],
) -> StackVerdict:
    loaded = specs.get(stack)
    if loaded is None:
        return StackVerdict(stack, model, error=f"stack '{stack}' has no Pulumi.{stack}.yaml")
    if isinstance(loaded, str):
        return StackVerdict(stack, model, error=loaded)
    document = loaded.models.get(model)
    if document is None:
        return StackVerdict(stack, model, absent=True)
    criteria = Criteria.from_acceptance(document.acceptance)
    pin = document.promoted
    if pin is None:
        result = evaluate(evaluations, criteria)
        return StackVerdict(
            stack, model, result, no_worse_than_published=criteria.no_worse_than_published
        )
    if pin.from_stack in (*seen, stack):
        return StackVerdict(stack, model, error=f"promotion cycle: {' → '.join((*seen, stack))}")
    source = _verdict(pin.from_stack, model, specs, evaluations, (*seen, stack))
    if source.result is None:
        why = source.error or f"stack '{pin.from_stack}' declares no Model '{model}'"
        return StackVerdict(stack, model, promoted_from=pin.from_stack, error=why)
    # The source's threshold and the metrics there, against this stack's minima.
    observed = source.result.observed
    failures = check(observed, criteria)
    if not source.result.passed:
        failures = (f"the source stack '{pin.from_stack}' gate fails", *failures)
    result = GateResult(
        passed=not failures,
        policy=f"{source.result.policy}, chosen on {pin.from_stack}",
        point=source.result.point,
        observed=observed,
        failures=tuple(failures),
    )
    return StackVerdict(
        stack,
        model,
        result,
        promoted_from=pin.from_stack,
        no_worse_than_published=criteria.no_worse_than_published,
    )


def _observed(o: Observed) -> tuple[str, str, str, str]:
    return (
        show_metric(o.threshold),
        show_metric(o.precision),
        show_metric(o.recall),
        show_metric(o.au_prc),
    )


def render_verdicts(verdicts: Sequence[StackVerdict]) -> list[str]:
    """The report's section: a row per model and stack, then every unmet criterion."""
    if not verdicts:
        return []
    lines = [
        "## Every stack's acceptance",
        "",
        "The rehearsed model judged against each stack's gate (its overlay applied). A stack "
        "with a promotion pin keeps the threshold its source stack chose.",
        "",
        "| model | stack | gate | threshold | precision | recall | AuPRC |",
        "|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for v in verdicts:
        if v.absent:
            lines.append(f"| `{v.model}` | {v.stack} | — (no such Model) | | | | |")
            continue
        if v.result is None:
            lines.append(f"| `{v.model}` | {v.stack} | ❌ not judged | | | | |")
            details += [f"- **{v.stack}** `{v.model}`: {v.error}"]
            continue
        verdict = "✅ passes" if v.result.passed else "❌ fails"
        cells = " | ".join(_observed(v.result.observed))
        lines.append(f"| `{v.model}` | {v.stack} | {verdict} | {cells} |")
        details += [f"- **{v.stack}** `{v.model}`: {f}" for f in v.result.failures]
        if v.no_worse_than_published:
            details.append(
                f"- **{v.stack}** `{v.model}`: `noWorseThan: published` is not judged here "
                "(it compares with the model the stack serves)"
            )
    return [*lines, "", *details, *([""] if details else [])]
