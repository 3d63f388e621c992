"""The `edgectl promote`, `edgectl history` and `edgectl status` command lines (added by
components/cli.py).

Building the parser imports nothing but this module: each handler imports what it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROMOTE_DESCRIPTION = """\
Pin a model that passed its gate on one stack into the next stack, through Git. Only along
the declared path: --from must be listed in edge-labeler:promoteFrom of Pulumi.<to>.yaml, and
an emulator stack is never a source for a stack that is not one (checked first, from the
stack files alone). Then it reads the source stack's registry record from its bucket (the
fingerprint given, else the one the source stack publishes, else its newest record that
passed its gate), checks that it passed, that its artifacts still have the recorded sha256
and that its gated metrics meet the target stack's acceptance, and writes
`promoted: {from, fingerprint}` for the model into SPECS/envs/<to>.yaml, keeping the file's
comments and formatting. Commit that one-line change as a pull request; on `pulumi up` the
target stack copies the artifact, verifies its sha256 and publishes it, without training.
Emulator stacks need the emulator's environment (`edgectl emulator env`)."""

PROMOTE_EPILOG = """\
exit status: 0 pinned (the overlay's diff is printed), 1 refused (the reason is printed;
nothing is written), 2 bad command line."""

HISTORY_DESCRIPTION = """\
What a stack trained, promoted and published for a model, from the registry records in its
bucket and the published pointer (all its generations, on buckets with versioning)."""


def configure_promote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="NAME", help="the Model to promote")
    parser.add_argument(
        "--from", dest="from_stack", required=True, metavar="STACK", help="where it was gated"
    )
    parser.add_argument(
        "--to", dest="to_stack", required=True, metavar="STACK", help="the stack to pin it in"
    )
    parser.add_argument(
        "--fingerprint", metavar="SHA256", help="promote this record (sha256:…) instead"
    )
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )


def run_promote(args: argparse.Namespace) -> int:
    from components.promotion.promote import PromotionError, promote

    try:
        done = promote(
            Path(args.project_dir), args.model, args.from_stack, args.to_stack, args.fingerprint
        )
    except PromotionError as err:
        print(f"edgectl promote: {err}", file=sys.stderr)
        return 1
    gate = done.record.gate
    print(
        f"pinned Model {done.model} on stack {done.to_stack} to {done.record.fingerprint} "
        f"from stack {done.from_stack} ({done.chosen}): gate passed at threshold "
        f"{gate['threshold']:g}, precision {gate['precision']:.3f}, recall {gate['recall']:.3f}"
    )
    print(done.diff() or f"{done.overlay}: already pinned to that fingerprint", end="")
    return 0


def configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="NAME", help="the Model")
    parser.add_argument("--stack", required=True, metavar="STACK", help="the stack")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )


def run_history(args: argparse.Namespace) -> int:
    from components.promotion.history import history, render_text, to_json
    from components.promotion.promote import PromotionError

    try:
        found = history(Path(args.project_dir), args.model, args.stack)
    except PromotionError as err:
        print(f"edgectl history: {err}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(to_json(found), indent=2))
    else:
        print(render_text(found), end="")
    return 0


STATUS_DESCRIPTION = """\
What each stack serves to apps, read from the cloud: per Model, the fingerprint its bucket
records as published, with its threshold, gated precision and recall, when, and whether it was
trained there or promoted (from which stack); per Publication, what its registry (Firebase ML
or the storage registry) serves under the display name; per Rollout, the share of users each
publication gets from its Remote Config parameter as it is live. Where the bucket, the
registry and the specs disagree, the difference is listed as drift. Without --stack, every
stack with a Pulumi.<stack>.yaml. Emulator stacks need the emulator's environment
(`edgectl emulator env`)."""

STATUS_EPILOG = """\
exit status: 0 every stack read and no drift, 1 a stack could not be read or drifted,
2 bad command line.

--format json prints one array described by components/schemas/status.schema.json."""


def configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        dest="stacks",
        action="append",
        default=[],
        metavar="STACK",
        help="a stack to show (repeat for several; default: every stack)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )


def run_status(args: argparse.Namespace) -> int:
    from components.promotion.status import render_text, status, to_json

    found = status(Path(args.project_dir), args.stacks)
    if not found:
        print(f"edgectl status: no Pulumi.<stack>.yaml in {args.project_dir}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(to_json(found), indent=2))
    else:
        print(render_text(found), end="")
        for unread in (s for s in found if s.error is not None):
            print(f"edgectl status: stack '{unread.stack}' {unread.error}", file=sys.stderr)
    return 1 if any(s.error is not None or s.drift for s in found) else 0
