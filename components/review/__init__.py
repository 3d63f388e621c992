"""Reviewing spec changes: what a pull request does to every stack, and what it costs.

review_revisions(project_dir, base_rev, head_rev=None, stacks=(), price=None) -> Review
render_markdown(review) / render_json(review) / to_json(review)
training_price(config, override=None) -> Price       (the one price table: prices.py)
checkout(project_dir, rev, into) -> Checkout          (a revision, read from git)

The names are loaded on first use (PEP 562), not with the package: `edgectl` imports
`components.review.command` to build its parser, which must not load the providers.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.review.prices import EDGE_TRAINING_PRICES, Price, training_price
    from components.review.render import render_json, render_markdown, to_json
    from components.review.revisions import Checkout, RevisionError, checkout
    from components.review.stack_review import Review, StackReview, review_revisions

_MODULES = {
    "EDGE_TRAINING_PRICES": "prices",
    "Price": "prices",
    "training_price": "prices",
    "render_json": "render",
    "render_markdown": "render",
    "to_json": "render",
    "Checkout": "revisions",
    "RevisionError": "revisions",
    "checkout": "revisions",
    "Review": "stack_review",
    "StackReview": "stack_review",
    "review_revisions": "stack_review",
}

__all__ = [
    "EDGE_TRAINING_PRICES",
    "Checkout",
    "Price",
    "Review",
    "RevisionError",
    "StackReview",
    "checkout",
    "render_json",
    "render_markdown",
    "review_revisions",
    "to_json",
    "training_price",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
