"""The `edgectl review` and `edgectl rehearse` command lines (added by components/cli.py).

Building the parser imports nothing but this module: each handler imports what it runs (the
graph and the providers for a review, the emulator and plotting for a rehearsal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REVIEW_DESCRIPTION = """\
Every resource change a pull request makes, per stack: the specs of --base and --head are
read from git (the working tree is not touched), each stack's overlay is applied, and each
resource's inputs are compared with its provider's own replace/update rules — added,
replaced (a Model: retrains), updated or deleted, field by field, old → new. Retrains show
their estimated training cost (budget node hours × price per node hour); loosened
acceptance criteria are flagged; changes that reach a publication on a prod stack
(protect: true, or named prod) are highlighted; a changed dataset lists the images added,
removed and relabelled per label and split; a Rollout lists each condition's share of users
and publication, old → new; alerts flag a renamed publication (apps loading the old name
break) and a rollout serving an unpublished model or, on prod, one not promoted there; head
validation errors are listed, pins off a stack's declared promotion path
(edge-labeler:promoteFrom) among them."""

REVIEW_EPILOG = """\
price per node hour, first match: --price-per-node-hour, the stack's
  edge-labeler:trainingPricePerNodeHour, the table in components/review/prices.py by
  training API (vertex: $18.00, Vertex AI pricing page; automl_v1: $4.95, AutoML Vision
  2021), $0 on emulator stacks. The source is named next to every estimate.

exit status: 0 reviewed, 1 the head revision does not validate on some stack, 2 bad
command line or unreadable revision.

--format json prints one object described by components/schemas/review.schema.json:
  {"schemaVersion": 1, "base": {rev, commit, label}, "head": {rev, commit, label},
   "valid": bool, "summary": {stacks, changes, retrains, costUsd, loosened,
   prodPublications, alerts, errors}, "stacks": [{stack, prod, emulator, price, errors,
   notes, retrains, costUsd, changes: [{kind, name, action, fields, resources, cost,
   acceptance, loosened, reachesProdPublication, notes, rollout, data, alerts}]}]}"""


def configure_review(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, metavar="REV", help="the revision to compare with")
    parser.add_argument(
        "--head", metavar="REV", help="the revision under review (default: the working tree)"
    )
    parser.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="NAME",
        help="review this stack (repeatable; default: every Pulumi.<stack>.yaml at head)",
    )
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="output format (default: markdown, for a PR comment)",
    )
    parser.add_argument(
        "--price-per-node-hour",
        type=float,
        metavar="USD",
        help="training price per node hour for every stack's estimates",
    )
    parser.add_argument(
        "--project-dir",
        default=".",
        metavar="DIR",
        help="the Pulumi project directory (default: .)",
    )


def run_review(args: argparse.Namespace) -> int:
    if args.price_per_node_hour is not None and not args.price_per_node_hour >= 0:
        print("edgectl review: --price-per-node-hour must be 0 or more", file=sys.stderr)
        return 2
    from components.review.render import render_json, render_markdown
    from components.review.revisions import RevisionError
    from components.review.stack_review import review_revisions

    try:
        review = review_revisions(
            Path(args.project_dir),
            args.base,
            args.head,
            args.stack,
            args.price_per_node_hour,
        )
    except RevisionError as err:
        print(f"edgectl review: {err}", file=sys.stderr)
        return 2
    print(render_json(review) if args.format == "json" else render_markdown(review), end="")
    if args.format == "json":
        print()
    return 0 if review.valid else 1


# -- rehearse -----------------------------------------------------------------------------------

REHEARSE_DESCRIPTION = """\
Run the declared pipeline once against a fresh local emulator (started in this process, in a
temporary directory): the same provider code as `pulumi up`, resource by resource in
dependency order, without Pulumi state. Reports per model the metrics at the chosen threshold
and whether the gate passes; with --base, the base revision is read from git and rehearsed
first, and the report shows every metric's change. Writes DIR/report.md with PNG plots
(precision/recall vs threshold with the chosen point marked; the top-1 confusion matrix),
saying at which threshold each figure is measured, labels in the dataset's order; and per
model DIR/<model>/ (its evaluation and TF Lite model) for `edgectl studio --rehearsal DIR`.
The stack's overlay applies; every stack is rehearsed on the emulator. Each trained model is
then judged against every stack's gate (Pulumi.<stack>.yaml and its overlay; a promotion pin
keeps its source stack's threshold). Training time follows
EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR (default 60 s per node hour), or
EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR epochs (results independent of the machine's
speed)."""

REHEARSE_EPILOG = """\
exit status: 0 every model passes its gate and every stack's, 1 a gate fails (on any stack)
or a step fails (the report says which), 2 bad command line or unreadable revision."""


def configure_rehearse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", default="local", metavar="NAME", help="the stack to rehearse (default: local)"
    )
    parser.add_argument(
        "--base", metavar="REV", help="also rehearse this revision and report metric deltas"
    )
    parser.add_argument(
        "--out",
        default="rehearsal",
        metavar="DIR",
        help="where report.md and the plots go (default: rehearsal)",
    )
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )
    parser.add_argument(
        "--artifact-url",
        metavar="URL",
        help="where DIR is uploaded (e.g. a GitHub run's artifacts): also write DIR/summary.md, "
        "the report with each plot a link there, for a job summary (which shows no relative "
        "image)",
    )


def run_rehearse(args: argparse.Namespace) -> int:
    from components.review.rehearsal import rehearse
    from components.review.revisions import RevisionError

    try:
        result = rehearse(
            Path(args.project_dir),
            args.stack,
            Path(args.out),
            args.base,
            artifact_url=args.artifact_url,
        )
    except RevisionError as err:
        print(f"edgectl rehearse: {err}", file=sys.stderr)
        return 2
    print(f"rehearsal {'passed' if result.passed else 'FAILED'}: {result.report}")
    return 0 if result.passed else 1
