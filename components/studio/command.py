"""The `edgectl studio` command line (added by components/cli.py).

Building the parser imports nothing but this module; the server, the data layer and (when a
page asks) the prediction core load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
A local web page (http://127.0.0.1:PORT, this machine only; no account, nothing to build,
nothing loaded from the network) for the project's specs:
  Datasets       per dataset: images per label and split, a contact sheet per label, the
                 images the checks refuse and why, the same image under different labels;
  Label          an `images` source's unlabeled images, labeled with the keyboard; saving
                 adds sorted rows to its `labels` file in the repository (never the cloud);
  Evaluate       a trained model's precision, recall and F1 (overall and per label) at a
                 threshold slider, the confusion matrix at it, false positives and negatives,
                 the gate's decision; "use this threshold" writes
                 acceptance.threshold.fixed into the spec file (comments kept: a 1-line diff);
  Test           drop an image: its labels at the threshold, as `edgectl predict` gives them.
Evaluations come from a rehearsal: `edgectl rehearse --out DIR` keeps each trained model's
evaluation and TF Lite export in DIR/<model>/. Ctrl-C stops the server."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        metavar="S",
        help="apply this stack's overlay (specs/envs/S.yaml) to the specs (default: the "
        "rehearsal's stack, else none)",
    )
    parser.add_argument(
        "--rehearsal",
        metavar="DIR",
        help="a rehearsal's output (edgectl rehearse --out DIR): the trained models to evaluate "
        "and test",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        metavar="P",
        help="port on 127.0.0.1 (default: 8765; 0: any free port)",
    )
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )


def run(args: argparse.Namespace) -> int:
    from components.spec import SpecError
    from components.spec.stack import load_stack_config
    from components.studio.evaluation import rehearsal_stack
    from components.studio.server import HOST, Studio, make_server

    root = Path(args.project_dir).resolve()
    rehearsal = Path(args.rehearsal).resolve() if args.rehearsal else None
    if rehearsal is not None and not rehearsal.is_dir():
        print(f"edgectl studio: --rehearsal {args.rehearsal}: no such directory", file=sys.stderr)
        return 2
    stack = args.stack or (rehearsal_stack(rehearsal) if rehearsal else None)
    specs_dir = root / "specs"
    if stack is not None and (root / f"Pulumi.{stack}.yaml").is_file():
        try:
            specs_dir = root / load_stack_config(stack, root).specs
        except SpecError as err:
            for issue in err.issues:
                print(f"edgectl studio: {issue.render()}", file=sys.stderr)
            return 2
    if not 0 <= args.port <= 65535:
        print(f"edgectl studio: --port {args.port}: 0 to 65535 is allowed", file=sys.stderr)
        return 2
    try:
        server = make_server(Studio(root, specs_dir, stack, rehearsal), args.port)
    except OSError as err:
        print(f"edgectl studio: cannot listen on 127.0.0.1:{args.port} ({err.strerror})",
              file=sys.stderr)  # fmt: skip
        return 2
    port = server.server_address[1]
    print(f"edgectl studio: serving {root} on http://{HOST}:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("edgectl studio: stopped", flush=True)
    return 0
