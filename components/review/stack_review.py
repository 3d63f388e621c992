"""`edgectl review`: every stack's resource changes between two revisions of the project.

For each stack (a `Pulumi.<stack>.yaml` at the head revision, or the ones asked for), the
specs of both revisions are loaded with that stack's overlay, planned (plan.py) and compared
(changes.py). Head revisions that do not validate on a stack are reported with every error,
file and line; the review is then invalid (exit status 1). So is a head revision whose pinned
promotion breaks the stack's declared promotion path (`edge-labeler:promoteFrom`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from components.review.changes import DocumentChange, compare
from components.review.plan import Checker, Plan, plan_stack, scan_cache_in
from components.review.prices import Price, training_price
from components.review.revisions import Checkout, checkout
from components.spec import SpecError, SpecIssue, StackConfig, load_specs, load_stack_config
from components.spec.stack import pin_issues, stack_file, stack_names


@dataclass(frozen=True)
class StackReview:
    stack: str
    prod: bool  # protect: true, or named prod
    emulator: bool
    price: Price | None  # None when the head config could not be read
    changes: tuple[DocumentChange, ...]
    errors: tuple[SpecIssue, ...]  # the head revision does not validate on this stack
    notes: tuple[str, ...] = ()

    @property
    def retrains(self) -> tuple[DocumentChange, ...]:
        return tuple(c for c in self.changes if c.cost is not None)

    @property
    def cost_usd(self) -> float:
        return round(sum(c.cost.usd for c in self.retrains if c.cost), 2)


@dataclass(frozen=True)
class Review:
    base: Checkout
    head: Checkout
    stacks: tuple[StackReview, ...]

    @property
    def valid(self) -> bool:
        return not any(s.errors for s in self.stacks)


def _relative(issue: SpecIssue, root: Path) -> SpecIssue:
    """Issue locations relative to the project directory (not to a temporary checkout)."""
    path = Path(issue.file)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            return replace(issue, file=path.relative_to(root).as_posix())
    return issue


def _plan(
    root: Path, stack: str, checker: Checker, check_pins: bool = False
) -> tuple[Plan, StackConfig | None, list[SpecIssue | str]]:
    """A stack's plan at one revision, its config, and its problems (empty plan if any).

    With `check_pins` (the head revision), pins off the declared promotion path are problems.
    """
    empty = Plan(stack, None, None, {})
    if not stack_file(stack, root).is_file():
        return empty, None, [f"Pulumi.{stack}.yaml does not exist"]
    config: StackConfig | None = None  # None when the stack file itself does not load
    try:
        config = load_stack_config(stack, root)
        source = Path(config.source)
        if source.is_absolute() and source.is_relative_to(root):  # not the temporary checkout
            config = replace(config, source=source.relative_to(root).as_posix())
        specs = load_specs(root / config.specs, stack)
    except SpecError as err:
        return empty, config, [_relative(i, root) for i in err.issues]
    refused = pin_issues(specs, config, root) if check_pins else []
    if refused:
        return empty, config, [_relative(i, root) for i in refused]
    plan = plan_stack(specs, config, root, checker)
    if plan.errors:
        return empty, config, [_relative(i, root) for i in plan.errors]
    return plan, config, []


def review_stack(
    stack: str, base_root: Path, head_root: Path, checker: Checker, price: float | None
) -> StackReview:
    head, config, head_problems = _plan(head_root, stack, checker, check_pins=True)
    errors = [
        p if isinstance(p, SpecIssue) else SpecIssue(f"Pulumi.{stack}.yaml", None, None, p)
        for p in head_problems
    ]
    if config is None or errors:
        return StackReview(
            stack,
            prod=bool(config and (config.protect or stack == "prod")),
            emulator=bool(config and config.emulator),
            price=training_price(config, price) if config else None,
            changes=(),
            errors=tuple(errors),
        )
    base, _, base_problems = _plan(base_root, stack, checker)
    notes: list[str] = []
    if base_problems:
        first = base_problems[0]
        why = first.render() if isinstance(first, SpecIssue) else first
        notes.append(
            f"the base revision does not load on stack '{stack}' ({why}"
            f"{f' and {len(base_problems) - 1} more' if len(base_problems) > 1 else ''}): "
            "every resource is shown as added"
        )
    prod = config.protect or stack == "prod"
    cost = training_price(config, price)
    return StackReview(
        stack,
        prod=prod,
        emulator=config.emulator,
        price=cost,
        changes=tuple(compare(base, head, cost, prod)),
        errors=(),
        notes=tuple(notes),
    )


def review_revisions(
    project_dir: Path,
    base_rev: str,
    head_rev: str | None = None,
    stacks: Sequence[str] = (),
    price_per_node_hour: float | None = None,
) -> Review:
    """Review `head_rev` (None: the working tree) against `base_rev`, stack by stack.

    Raises RevisionError when a revision cannot be read.
    """
    with tempfile.TemporaryDirectory(prefix="edgectl-review-") as scratch:
        tmp = Path(scratch)
        base = checkout(project_dir, base_rev, tmp / "base")
        head = checkout(project_dir, head_rev, tmp / "head")
        names = tuple(stacks) or stack_names(head.root)
        checker = Checker()
        with scan_cache_in(tmp / "cache"):
            reviews = tuple(
                review_stack(s, base.root, head.root, checker, price_per_node_hour) for s in names
            )
    return Review(base, head, reviews)
