"""`edgectl`: the command line of edge-labeler.

Each subcommand is one `add_<name>(subparsers)` function that adds its parser and sets
`handler` (a function `args -> exit code`); list it in SUBCOMMANDS to make it exist.
Building the parser imports only argparse-level modules; a handler imports what it runs, so
that `edgectl --help` or `validate` does not load the providers, the cloud clients or the
emulator (tests/test_cli_imports.py checks each command's import set).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.spec import SpecIssue, SpecSet

PROG = "edgectl"
HELP_WIDTH = 88  # fixed, so `--help` and the README's copy of it do not depend on the terminal

Subparsers = Any  # argparse._SubParsersAction (private type)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, width=HELP_WIDTH)


# -- validate -----------------------------------------------------------------------------

VALIDATE_EPILOG = """\
exit status: 0 valid, 1 invalid, 2 bad command line.

--format json prints one object:
  {"valid": bool, "directory": str, "stacks": [stack names whose overlay was checked],
   "counts": {"Bucket": n, "Dataset": n, "Model": n, "Publication": n, "Rollout": n} or null,
   "errors": [issue, ...], "warnings": [issue, ...]}
each issue: {"file", "line", "column", "severity", "kind", "name", "field", "stack",
  "message", "text"} — line/column are 1-based (null when the whole file is meant),
  kind/name/field are null when not known, stack is set when the problem only exists
  with that stack's overlay, text is the rendered one-line form."""


def add_validate(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check specs and their overlays; print every error with file:line:column",
        description=(
            "Load every DIR/*.yaml spec, apply overlays, validate against the schemas and\n"
            "the cross-document rules, and report every problem at once. Without --stack,\n"
            "the base specs and every overlay in DIR/envs/ are checked. A pinned promotion\n"
            "(`promoted: {from: …}`) must follow the stack's declared path:\n"
            "edge-labeler:promoteFrom in PROJECT/Pulumi.<stack>.yaml, never an emulator stack\n"
            "for a cloud stack."
        ),
        epilog=VALIDATE_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument(
        "directory",
        nargs="?",
        default="specs",
        metavar="DIR",
        help="spec directory (default: specs)",
    )
    parser.add_argument(
        "--stack", metavar="NAME", help="check only this stack (base specs + DIR/envs/NAME.yaml)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--project-dir",
        metavar="PROJECT",
        help="the Pulumi project, for its stack files (default: the nearest directory at or "
        "above DIR with a Pulumi.yaml)",
    )
    parser.set_defaults(handler=run_validate)


def pulumi_project(directory: Path) -> Path | None:
    """The nearest directory at or above `directory` holding Pulumi.yaml, relative to cwd."""
    start = directory.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return Path(os.path.relpath(candidate))
    return None


def promotion_issues(specs: SpecSet, stack: str, project: Path | None) -> list[SpecIssue]:
    """Pins of `specs` that break the stack's declared promotion path (pin_issues), or that
    cannot be checked because its stack file is not there."""
    from components.spec import SpecError, SpecIssue
    from components.spec.stack import load_stack_config, pin_issues, stack_file

    pinned = [m for _, m in sorted(specs.models.items()) if m.promoted is not None]
    if not pinned:
        return []
    if project is None or not stack_file(stack, project).is_file():
        where = (
            f"no Pulumi project (Pulumi.yaml) at or above {specs.directory}"
            if project is None
            else f"no Pulumi.{stack}.yaml in {project}"
        )
        return [
            SpecIssue.at(
                model.location_of("spec.promoted.from"),
                f"the promotion path of stack '{stack}' cannot be checked: {where} (stack "
                "files declare edge-labeler:promoteFrom); name the project with --project-dir",
                kind="Model",
                name=model.name,
                field="spec.promoted.from",
            )
            for model in pinned
        ]
    try:
        config = load_stack_config(stack, project)
    except SpecError as exc:
        return list(exc.issues)
    return pin_issues(specs, config, project)


def run_validate(args: argparse.Namespace) -> int:
    from components.spec import SpecError, SpecIssue, load_specs, overlay_stacks

    directory = Path(args.directory)
    project = Path(args.project_dir) if args.project_dir else pulumi_project(directory)
    stacks: list[str | None] = [args.stack] if args.stack else [None, *overlay_stacks(directory)]
    errors: set[SpecIssue] = set()
    warnings: set[SpecIssue] = set()
    counts: dict[str, int] | None = None
    for stack in stacks:
        try:
            specs = load_specs(directory, stack)
        except SpecError as exc:
            errors.update(exc.issues)
            warnings.update(exc.warnings)
        else:
            warnings.update(specs.warnings)
            counts = counts or specs.counts()
            if stack is not None:
                errors.update(promotion_issues(specs, stack, project))
    ordered_errors = sorted(errors, key=SpecIssue.sort_key)
    ordered_warnings = sorted(warnings, key=SpecIssue.sort_key)
    checked = [s for s in stacks if s is not None]
    if args.format == "json":
        report = {
            "valid": not errors,
            "directory": str(directory),
            "stacks": checked,
            "counts": None if errors else counts,
            "errors": [issue.to_json() for issue in ordered_errors],
            "warnings": [issue.to_json() for issue in ordered_warnings],
        }
        print(json.dumps(report, indent=2))
        return 1 if errors else 0
    for issue in sorted(errors | warnings, key=SpecIssue.sort_key):
        print(issue.render())
    scope = (
        f"stack {args.stack}"
        if args.stack
        else ("base" + (f" + stacks {', '.join(checked)}" if checked else ", no overlays"))
    )
    if errors:
        files = len({issue.file for issue in errors})
        plural = "s" if len(errors) != 1 else ""
        print(f"invalid: {len(errors)} error{plural} in {files} file(s) ({scope})")
        return 1
    summary = ", ".join(f"{n} {kind}" for kind, n in (counts or {}).items() if n)
    print(f"valid: {summary} in {directory} ({scope})")
    return 0


# -- emulator -----------------------------------------------------------------------------


def add_emulator(subparsers: Subparsers) -> None:
    # The emulator is a separate package (a fake cloud that imports nothing from components);
    # the command line only hands it its arguments. emulator.cli imports argparse-level
    # modules only: the server, its facades and the engine load when the command runs.
    from emulator import cli

    parser = subparsers.add_parser(
        "emulator",
        help="run the local emulator of Cloud Storage, AutoML, Vertex AI and Firebase ML",
        description=cli.DESCRIPTION,
        formatter_class=_formatter,
    )
    cli.configure_parser(parser)
    parser.set_defaults(handler=cli.run)


# -- review, rehearse, promote, history (components/review, components/promotion) ------------


def add_review(subparsers: Subparsers) -> None:
    from components.review import command

    parser = subparsers.add_parser(
        "review",
        help="what a change does to every stack: retrains and their cost, loosened gates",
        description=command.REVIEW_DESCRIPTION,
        epilog=command.REVIEW_EPILOG,
        formatter_class=_formatter,
    )
    command.configure_review(parser)
    parser.set_defaults(handler=command.run_review)


def add_rehearse(subparsers: Subparsers) -> None:
    from components.review import command

    parser = subparsers.add_parser(
        "rehearse",
        help="run the pipeline on a fresh local emulator: metrics, gate, plots",
        description=command.REHEARSE_DESCRIPTION,
        epilog=command.REHEARSE_EPILOG,
        formatter_class=_formatter,
    )
    command.configure_rehearse(parser)
    parser.set_defaults(handler=command.run_rehearse)


def add_promote(subparsers: Subparsers) -> None:
    from components.promotion import command

    parser = subparsers.add_parser(
        "promote",
        help="pin a model gated on one stack into another stack's overlay",
        description=command.PROMOTE_DESCRIPTION,
        epilog=command.PROMOTE_EPILOG,
        formatter_class=_formatter,
    )
    command.configure_promote(parser)
    parser.set_defaults(handler=command.run_promote)


def add_history(subparsers: Subparsers) -> None:
    from components.promotion import command

    parser = subparsers.add_parser(
        "history",
        help="what a stack trained, promoted and published for a model, and when",
        description=command.HISTORY_DESCRIPTION,
        formatter_class=_formatter,
    )
    command.configure_history(parser)
    parser.set_defaults(handler=command.run_history)


def add_status(subparsers: Subparsers) -> None:
    from components.promotion import command

    parser = subparsers.add_parser(
        "status",
        help="what each stack publishes and rolls out; bucket vs registry drift",
        description=command.STATUS_DESCRIPTION,
        epilog=command.STATUS_EPILOG,
        formatter_class=_formatter,
    )
    command.configure_status(parser)
    parser.set_defaults(handler=command.run_status)


# -- predict, download (components/delivery) ------------------------------------------------


def add_predict(subparsers: Subparsers) -> None:
    from components.delivery import command

    parser = subparsers.add_parser(
        "predict",
        help="label images with the model a stack gated (LiteRT, sha256 verified)",
        description=command.PREDICT_DESCRIPTION,
        epilog=command.PREDICT_EPILOG,
        formatter_class=_formatter,
    )
    command.configure_predict(parser)
    parser.set_defaults(handler=command.run_predict)


def add_download(subparsers: Subparsers) -> None:
    from components.delivery import command

    parser = subparsers.add_parser(
        "download",
        help="the gated model, labels, threshold and ML Kit snippets to bundle in an app",
        description=command.DOWNLOAD_DESCRIPTION,
        formatter_class=_formatter,
    )
    command.configure_download(parser)
    parser.set_defaults(handler=command.run_download)


# -- studio (components/studio) -----------------------------------------------------------------


def add_studio(subparsers: Subparsers) -> None:
    from components.studio import command

    parser = subparsers.add_parser(
        "studio",
        help="a local page: datasets, labeling, the threshold slider, test your model",
        description=command.DESCRIPTION,
        formatter_class=_formatter,
    )
    command.configure(parser)
    parser.set_defaults(handler=command.run)


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    add_validate,
    add_emulator,
    add_review,
    add_rehearse,
    add_promote,
    add_history,
    add_status,
    add_predict,
    add_download,
    add_studio,
]


def version() -> str:
    """The installed edge-labeler's version (pyproject.toml's, once `pip install`ed)."""
    from importlib import metadata  # only for --version: it reads every installed package

    try:
        return metadata.version("edge-labeler")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed: pip install .)"


class _Version(argparse.Action):
    """`--version`: argparse's action, with the version looked up only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser._print_message(f"{PROG} {version()}\n", sys.stdout)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The `edgectl` parser with every subcommand of SUBCOMMANDS."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Declarative AutoML Vision Edge models on Google Cloud: specs in Git, "
        "reconciled by Pulumi.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `edgectl`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return int(handler(args))


# -- README -------------------------------------------------------------------------------


def cli_reference() -> str:
    """The README's command-line section: `--help` of edgectl and of every subcommand."""
    parser = build_parser()
    sections = ["```text", f"$ {PROG} --help", parser.format_help().rstrip(), "```"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                sections += ["", f"### {PROG} {name}", "", "```text"]
                sections += [f"$ {PROG} {name} --help", sub.format_help().rstrip(), "```"]
    return "\n".join(sections)


def update_readme(path: str | Path = "README.md") -> bool:
    """Regenerate README.md's spec and CLI reference sections; True when it changed."""
    from components.spec.reference import replace_section, spec_reference

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = replace_section(text, "spec-reference", spec_reference())
    new = replace_section(new, "cli-reference", cli_reference())
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    sys.exit(main())
