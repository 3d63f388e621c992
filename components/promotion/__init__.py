"""GitOps promotion: pin a gated model into the next stack's overlay; list what was published.

promote(project_dir, model, from_stack, to_stack, fingerprint=None) -> Promotion
history(project_dir, model, stack) -> History
with_pin(text, stack, model, from_stack, fingerprint) -> str   (the overlay edit)
"""

from components.promotion.history import History, history
from components.promotion.pin import PinError, pinned, with_pin
from components.promotion.promote import Promotion, PromotionError, promote

__all__ = [
    "History",
    "PinError",
    "Promotion",
    "PromotionError",
    "history",
    "pinned",
    "promote",
    "with_pin",
]
