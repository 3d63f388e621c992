"""Reviewing spec changes: what a pull request does to every stack, and what it costs.

review_revisions(project_dir, base_rev, head_rev=None, stacks=(), price=None) -> Review
render_markdown(review) / render_json(review) / to_json(review)
training_price(config, override=None) -> Price       (the one price table: prices.py)
checkout(project_dir, rev, into) -> Checkout          (a revision, read from git)
"""

from components.review.prices import EDGE_TRAINING_PRICES, Price, training_price
from components.review.render import render_json, render_markdown, to_json
from components.review.revisions import Checkout, RevisionError, checkout
from components.review.stack_review import Review, StackReview, review_revisions

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
