"""GitOps promotion: pin a gated model into the next stack's overlay; list what was published.

promote(project_dir, model, from_stack, to_stack, fingerprint=None) -> Promotion
history(project_dir, model, stack) -> History
status(project_dir, stacks=()) -> list[StackStatus]   (what each stack serves, drift)
with_pin(text, stack, model, from_stack, fingerprint) -> str   (the overlay edit)

The names are loaded on first use (PEP 562), not with the package: `edgectl` imports
`components.promotion.command` to build its parser, which must not load the cloud clients.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.promotion.history import History, history
    from components.promotion.pin import PinError, pinned, with_pin
    from components.promotion.promote import Promotion, PromotionError, promote
    from components.promotion.status import StackStatus, status

_MODULES = {
    "History": "history",
    "history": "history",
    "PinError": "pin",
    "pinned": "pin",
    "with_pin": "pin",
    "Promotion": "promote",
    "PromotionError": "promote",
    "promote": "promote",
    "StackStatus": "status",
    "status": "status",
}

__all__ = [
    "History",
    "PinError",
    "Promotion",
    "PromotionError",
    "StackStatus",
    "history",
    "pinned",
    "promote",
    "status",
    "with_pin",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
