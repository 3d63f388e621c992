"""The data layer's one error type: every problem names the file (and entry) and the rule."""

from collections.abc import Iterable
from dataclasses import dataclass

# How many offending entries are named per rule before the rest are only counted.
MAX_EXAMPLES_PER_RULE = 5


@dataclass(frozen=True)
class Problem:
    where: str  # e.g. "specs/data/digits.zip:digits/one/0001.png"
    rule: str  # short stable key, e.g. "format", "label-pattern"
    message: str  # what is wrong and what is allowed

    def render(self) -> str:
        return f"{self.where}: {self.message}"


class DatasetError(ValueError):
    """Input data that the service would refuse; nothing has been created when this is raised."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        super().__init__(summarize(self.problems))


def summarize(problems: tuple[Problem, ...]) -> str:
    """All problems, grouped by rule, with at most a few examples per rule."""
    by_rule: dict[str, list[Problem]] = {}
    for p in problems:
        by_rule.setdefault(p.rule, []).append(p)
    lines = []
    for group in by_rule.values():
        for p in group[:MAX_EXAMPLES_PER_RULE]:
            lines.append(p.render())
        hidden = len(group) - MAX_EXAMPLES_PER_RULE
        if hidden > 0:
            lines.append(f"… and {hidden} more with the same problem ({group[0].rule})")
    return "\n".join(lines)
