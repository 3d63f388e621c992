"""The `edgectl predict` and `edgectl download` command lines (added by components/cli.py).

Building the parser imports nothing but this module: each handler imports what it runs
(predict loads LiteRT, and the cloud clients only for a stack's record or --online).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREDICT_DESCRIPTION = """\
Label local images with the exact model a stack gated, as an app would run it: the TF Lite
file named by the stack's registry record (the record --fingerprint names, else the one the
stack publishes, else its newest that passed its gate), its sha256 checked against the record,
run with LiteRT. Prints, per image, the labels scoring at or above the gate's threshold,
highest first. Images are checked with the dataset rules (format by content, 30 MB,
decodable); a directory stands for every file under it. --model-file runs a local .tflite
instead (labels from its TF Lite metadata, else dict.txt beside it). --online asks the
deployed model (AutoML PredictionService) instead of running the file; the Model spec must
have `deploy` (Vertex AI serves no online predictions for Edge models). Emulator stacks need
the emulator's environment (`edgectl emulator env`)."""

PREDICT_EPILOG = """\
exit status: 0 every image labeled, 1 an image was refused (the others are still labeled) or
no model could be used, 2 bad command line or no file among IMAGE|DIR.

--format json prints one object:
  {"model": {"stack", "model", "fingerprint", "file", "sha256", "source"} ,
   "threshold": float, "top": int or null, "online": bool,
   "images": [{"image": path, "labels": [{"label", "score"}, ...], "error": str or null}]}"""

DOWNLOAD_DESCRIPTION = """\
Download the model a stack gated, to bundle it with an app: DIR/model.tflite (the record's
file, sha256 verified before and after writing), dict.txt (labels in output order),
manifest.json (the AutoML Vision Edge bundle layout), model.json (fingerprint, threshold,
metrics, labels, sha256 of every file) and README.md (loading it with ML Kit's custom image
labeler on Android and iOS at the gate's threshold). The record is chosen as for predict."""

DEFAULT_THRESHOLD = 0.5  # AutoML's default score_threshold, for a file without one


def _model_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--stack", required=required, metavar="NAME", help="the stack")
    parser.add_argument("--model", required=required, metavar="NAME", help="the Model")
    parser.add_argument(
        "--fingerprint", metavar="SHA256", help="use this record (sha256:…) of the stack"
    )
    parser.add_argument(
        "--project-dir", default=".", metavar="DIR", help="the Pulumi project directory"
    )


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE|DIR", help="images to label")
    _model_arguments(parser, required=False)
    parser.add_argument(
        "--model-file", metavar="FILE", help="a local .tflite instead of a stack's record"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="labels scoring at least T (default: the gate's threshold)",
    )
    parser.add_argument("--top", type=int, metavar="K", help="at most K labels per image")
    parser.add_argument(
        "--online", action="store_true", help="ask the deployed model instead of the file"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def configure_download(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser, required=True)
    parser.add_argument("--out", required=True, metavar="DIR", help="where the files go")


@dataclass
class ImageResult:
    image: str
    labels: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "labels": [{"label": label, "score": round(score, 6)} for label, score in self.labels],
            "error": self.error,
        }


def image_paths(arguments: list[str]) -> list[Path]:
    """The files named, and every file under the directories named (sorted, no hidden ones)."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            paths += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            paths.append(path)
    return paths


def _usage_error(parser_name: str, message: str) -> int:
    print(f"edgectl {parser_name}: {message}", file=sys.stderr)
    return 2


def run_predict(args: argparse.Namespace) -> int:
    if args.model_file is None and (args.stack is None or args.model is None):
        return _usage_error("predict", "--stack and --model are required (or --model-file FILE)")
    if args.model_file is not None and (args.stack or args.model or args.online):
        return _usage_error(
            "predict", "--model-file runs a local file: it goes without --stack, --model, --online"
        )
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        return _usage_error("predict", f"--threshold {args.threshold:g}: 0 to 1 is allowed")
    if args.top is not None and args.top < 1:
        return _usage_error("predict", f"--top {args.top}: at least 1 is allowed")
    from components.delivery.gated import DeliveryError
    from components.predict import PredictError

    try:
        return _predict(args)
    except (DeliveryError, PredictError) as err:
        print(f"edgectl predict: {err}", file=sys.stderr)
        return 1


def _predict(args: argparse.Namespace) -> int:
    from components.predict import ImageRejected

    paths = image_paths(args.images)
    if not paths:
        print(f"edgectl predict: no file in {', '.join(args.images)}", file=sys.stderr)
        return 2
    about, gated_threshold, ask = _model_source(args)
    threshold = args.threshold if args.threshold is not None else gated_threshold
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    results = []
    for path in paths:
        result = ImageResult(str(path))
        try:
            result.labels = ask(path, threshold)[: args.top]
        except ImageRejected as err:
            result.error = str(err)
        results.append(result)
    if args.format == "json":
        report = {
            "model": about,
            "threshold": threshold,
            "top": args.top,
            "online": bool(args.online),
            "images": [r.to_json() for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        print(_header(about, threshold, bool(args.online)))
        for r in results:
            print(_line(r, threshold))
    return 1 if any(r.error for r in results) else 0


Ask = Callable[[Path, float], list[tuple[str, float]]]


def _model_source(args: argparse.Namespace) -> tuple[dict[str, Any], float | None, Ask]:
    """What labels the images (described for the report), its threshold, and how it is asked."""
    from components.predict import Predictor

    if args.model_file is not None:
        path = Path(args.model_file)
        predictor = Predictor.from_file(path)
        embedded = predictor.metadata
        about = {
            "stack": None,
            "model": embedded.name if embedded is not None else None,
            "fingerprint": embedded.version if embedded is not None else None,
            "file": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "source": "--model-file",
        }
        return about, embedded.threshold if embedded is not None else None, predictor.label

    from components.delivery.gated import gated_model

    gated = gated_model(Path(args.project_dir), args.stack, args.model, args.fingerprint)
    about = {
        "stack": gated.stack,
        "model": gated.model,
        "fingerprint": gated.record.fingerprint,
        "file": gated.artifact.uri,
        "sha256": gated.artifact.sha256,
        "source": gated.chosen,
    }
    if args.online:
        return about, gated.threshold, _online_asker(args, gated.record.cloud_model)
    return about, gated.threshold, Predictor(gated.data, gated.labels, gated.artifact.uri).label


def _online_asker(args: argparse.Namespace, cloud_model: str) -> Ask:
    """Asks the deployed model (DeliveryError when the stack serves none)."""
    from components.cloud.clients import cloud_target
    from components.cloud.errors import CloudError
    from components.delivery.gated import DeliveryError
    from components.delivery.online import online_labels, refusal
    from components.predict import ImageRejected, checked_image
    from components.promotion.promote import stack_model

    stack = stack_model(Path(args.project_dir), args.stack, args.model)
    target = cloud_target(stack.config)
    deploy = stack.specs.models[args.model].deploy
    why = refusal(target, deploy.nodes if deploy else None, args.model)
    if why is not None:
        raise DeliveryError(why)

    def ask(path: Path, threshold: float) -> list[tuple[str, float]]:
        data = checked_image(path)
        try:
            return online_labels(target, cloud_model, data, threshold)
        except CloudError as err:
            raise ImageRejected(f"{path}: {err}") from None

    return ask


def _header(about: dict[str, Any], threshold: float, online: bool) -> str:
    if about["stack"] is None:
        what = f"{about['file']} (sha256 {about['sha256'][:12]}…)"
    else:
        what = (
            f"Model {about['model']} on stack {about['stack']}: {about['fingerprint'][:19]}… "
            f"({about['source']}), {'deployed model' if online else 'sha256 verified'}"
        )
    return f"{what}; labels scoring at least {threshold:g}"


def _line(result: ImageResult, threshold: float) -> str:
    if result.error is not None:
        return f"{result.image}: refused: {result.error.removeprefix(result.image + ': ')}"
    if not result.labels:
        return f"{result.image}: no label at or above {threshold:g}"
    return f"{result.image}: " + ", ".join(f"{label} {score:.3f}" for label, score in result.labels)


def run_download(args: argparse.Namespace) -> int:
    from components.delivery.bundle import download
    from components.delivery.gated import DeliveryError, gated_model

    try:
        gated = gated_model(Path(args.project_dir), args.stack, args.model, args.fingerprint)
        written = download(gated, Path(args.out))
    except DeliveryError as err:
        print(f"edgectl download: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    print(
        f"Model {gated.model} on stack {gated.stack}: {gated.record.fingerprint[:19]}… "
        f"({gated.chosen}), threshold {gated.threshold if gated.threshold is not None else '—'}"
    )
    for name, digest in written.items():
        print(f"  {out / name}  sha256 {digest}")
    return 0
