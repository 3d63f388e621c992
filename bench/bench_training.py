"""Benchmark: the emulator's trainer, every mobile model type, on digits and on real photos.

For each model type, each set of bench/datasets.py (`--sets`, default `digits,photos12`: the
example project's digits; crops of twelve of scikit-image's sample photographs, tested on
regions of the scenes never trained on — `photos`, six pictures and larger crops, is saturated
and is run only when named) and each seed (`--seeds`, default 7-12), one training at 1 node
hour, then: TEST top-1 of the float `tflite` and the int8 `edgetpu_tflite` exports (run in
LiteRT), their sizes, LiteRT single-thread latency (median of 200 runs), epochs and stop
reason, and the split of the training's wall time (setup / epochs / export / evaluation). With
several seeds, each type's mean follows its per-seed rows: a single seed's top-1 on the photos
swings by several points.

The budget's scale is the default one (60 s of training steps per node hour unless
EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR says otherwise), or, with
`--epochs-per-node-hour N`, N epochs (accuracy then does not depend on the machine's load;
the timings still do). `N1,N2,N3` gives each of `--types` its own: the epochs each type
completes in 60 s on a quiet machine make an epoch budget that resembles the default scale —
on the photos (240 TRAIN crops at 96 px), `120,50,45` for low latency, versatile and high
accuracy as they are now (high accuracy made 44 epochs in two quiet minutes, versatile 48–51;
the earlier high accuracy at 72 px made 28–30, hence the `120,50,28` of older figures). In the
bench's runs at load 1.5–2, 50 and 45 epochs took versatile and high accuracy 60–66 s each.
Measured again on 2026-12-04 with nothing else running (the load of 2 is the training's own),
at the default scale: low latency made 174 epochs (seed 7) in one run and 129 / 127 (seeds 8,
9) in the next, minutes later; versatile 48 / 47 / 47, high accuracy 43 / 45 / 42. An epoch
budget of `120,50,45` is still near a minute's for versatile and high accuracy; low latency's
minute moves by a third between runs. Top-1 in those runs: 97.17 / 99.00 / 97.67 % (seed 7),
94.33 / 96.67 / 96.50 % (seed 8), 95.00 / 96.83 / 96.67 % (seed 9) for low latency /
versatile / high accuracy.
With oneDNN's kernels (tf_setup, from 2026-12-04 on) a default-scale minute paid, on the
photos, for 178-188 epochs of low latency (every run reached the schedule's horizon and ended
MODEL_CONVERGED), 60-87 of versatile and 58-76 of high accuracy (three runs, load 1.6-2.5): an
epoch budget like a quiet minute is now about `188,80,70`. Mean top-1 of seeds 7-9, low
latency / versatile / high accuracy: 95.94 / 97.11 / 97.33 % and 97.39 / 97.39 / 98.06 % (two
runs, every target met in both); seeds 10-12: 97.22 / 98.33 / 98.06 %. High accuracy minus
versatile per seed over those nine trainings: +0.20 points, standard error 0.42 — the default
seeds met the order twice, but the lead is within one seed's swing.
Six seeds (7-12) by default since 2026-12-05 (three before): on `photos12` the types' means lie
within half a point of each other and one seed swings a type's top-1 by 1-3 points, so a mean
of three ranked them by chance. Low latency, which reaches its horizon within the minute,
made 97.33 / 98.00 / 96.67 / 97.67 / 97.17 / 97.50 % (seeds 7-12, mean 97.39 %; its rates
follow its steps while its pace pays for the horizon, with little to spare here: seed 7 made
96.67 % in runs of its own, above); versatile 97.83 / 97.00 / 98.50 / 99.00 / 97.33 / 95.67
(97.56 %) in one hour and 97.11 % for seeds 7-9 in another; high accuracy at its present sides
(emulator/core/architectures.py) 98.00 / 97.33 / 97.83 / 98.17 / 97.67 / 97.83 (97.81 %).
Two `make bench` runs on fresh clones an hour apart (2026-12-05, load 1.5-2.5), low latency /
versatile / high accuracy, means of seeds 7-12: 97.14 / 97.28 / 97.36 % and 96.72 / 97.22 /
97.39 % — the order held in both, by +0.14 / +0.08 and +0.50 / +0.17 points, with standard
errors of the per-seed differences of 0.6-0.8: a third run may still reverse a step. Low
latency's seeds 11-12 made 97.50 / 93.67 % and 96.00 / 94.00 % there against 97.17 / 97.50 %
in a trial (its pace pays for its horizon with little to spare).
On `photos12` with two subjects drawn closer (2026-12-05, bench/datasets.py "Subjects
corrected": a third of the errors had been TEST crops that showed no subject), seeds 7-12, low
latency / versatile / high accuracy: 98.00 / 98.25 / 97.47 % in a run of this script and 97.89
/ 98.33 / 97.11 % in `make bench` on a fresh clone an hour later (per seed, high accuracy
99.00 / 95.00 / 98.00 / 97.67 / 97.50 / 97.67 and 97.67 / 95.33 / 97.33 / 96.50 / 97.67 /
98.17 %; versatile 96.83-99.17 and 97.83-98.67 %). The seeds swing less than on the set before,
versatile stays ahead of low latency (+0.25, +0.44 points) and high accuracy fell behind
versatile in both (−0.78, −1.22 points): the order is not met there.
With high accuracy's progressive sizing (2026-12-05, session 25: 48-px crops for the first 60 %
of its schedule, then 88 px; emulator/core/architectures.py), seeds 7-12, low latency / versatile
/ high accuracy: 97.67 / 98.08 / 98.78 % in `make bench` on a fresh clone (high accuracy 98.83 /
98.83 / 98.67 / 99.17 / 98.83 / 98.33, at or above versatile on every seed, 70-77 epochs) and
97.53 / 98.58 / 98.86 % in a run of this script twenty minutes later (98.83 / 98.33 / 98.83 /
99.00 / 99.33 / 98.83); versatile − low latency +0.42 / +1.06 points, high accuracy − versatile
+0.69 / +0.28: the order met in both, and in a trial an hour before (high accuracy 98.83 %,
versatile 98.28 %).

Digits, low latency (2026-12-04): every training at 1 node hour ends at the schedule's horizon
(40 epochs, MODEL_CONVERGED, ~41 s of the 60 s: at that pace a minute pays for ~2,700 steps,
1.5 times the horizon's 1,800), and the schedule follows the steps alone until a budget is
expected to end a training (emulator/core/training/stopping.py), so the default scale trains
the same models as an epoch budget (best epochs 28 / 33 / 37 for seeds 7-9 in two runs at the
default scale and with `--epochs-per-node-hour 60`): seeds 7-12 made 99.44 / 99.44 / 99.44 /
99.44 / 100 / 100 %. Every miss is the same TEST image, #421 (a "five" with a faint
left stroke, called "nine"), which the SVC on scikit-learn's 8×8 digits of the same split
calls "nine" too (its other miss: #129, "eight" called "one"). One TEST image is 0.56 points,
so the target (≥ 99.4 %, the mean of the seeds) holds with that one miss per seed and no
other. Before the schedule changed, its first rates followed the clock (the wait for the first
batch counted as budget spent) and seeds 7-9 made 100 / 99.44 / 100 % in one `make bench`,
99.44 / 99.44 / 98.89 % in another. Tried with an epoch budget, seeds 7-10, misses per seed:
random crops down to 0.8 of an image instead of 0.6, 1 / 1 / 0 / 1 (#1729, "three" called
"five", once); no crops, 2 / 2 / 3 / 1; a horizon of 55 epochs instead of 40, 1 / 0 / 1 / 1 —
none gets #421 right reliably. Low latency on `photos12` reaches its horizon (1,500 steps) with
less to spare: in a quiet run its pace paid for 1,822-2,228 steps at the epochs' ends, so on a
busier moment its rates may follow the clock; seed 7 made 96.67 % (best epoch 156) in three
runs of its own and 97.33 % (158) within a whole run of this script.

Baselines, measured in the same run: an SVC (RBF) and a LogisticRegression on the same pixels
(and, for the digits, the SVC on scikit-learn's own 8×8 digits), and an untrained Keras
MobileNetV2 (α 0.35, 96 px) converted to TF Lite (size, latency).

Targets (issue [5/8]) are checked at the end and the misses printed; they are figures of this
machine, not assertions (the exit status is 0 either way, so `make bench` runs on). Latencies
and wall times depend on the machine's load: the load average is printed before and after.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import datasets
from bench.table import row

LATENCY_RUNS = 200
MB = 1_000_000
TYPES = ("mobile-low-latency-1", "mobile-versatile-1", "mobile-high-accuracy-1")
PHOTO_SETS = ("photos", "photos12")


@dataclass
class Row:
    """One line of the table."""

    set: str
    model: str
    seed: int | None = None  # None: a baseline, or the mean over seeds
    top1: float | None = None
    top1_int8: float | None = None
    size: int | None = None
    size_int8: int | None = None
    ms: float | None = None
    ms_int8: float | None = None
    epochs: str = ""
    epochs_run: int | None = None  # of a training (epochs says it with best epoch and stop)
    times: dict[str, float] = field(default_factory=dict)  # setup, epochs, export, evaluation


def latency_ms(content: bytes, runs: int = LATENCY_RUNS) -> float:
    """Median single-thread LiteRT latency of one invoke, in milliseconds."""
    from ai_edge_litert.interpreter import Interpreter

    from emulator.core.tf_setup import native_logs_filtered

    with native_logs_filtered():
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    interpreter.set_tensor(
        detail["index"], rng.integers(0, 255, detail["shape"]).astype(detail["dtype"])
    )
    for _ in range(10):
        interpreter.invoke()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        interpreter.invoke()
        samples.append(time.perf_counter() - started)
    return float(np.median(samples) * 1000)


def baselines(labeled: datasets.LabeledSet) -> list[Row]:
    """SVC and LogisticRegression on the images' pixels (TRAIN+VALIDATION → TEST)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    x = labeled.pixels.reshape(len(labeled.pixels), -1) / 255.0
    fit, test = labeled.splits != "TEST", labeled.splits == "TEST"
    rows = []
    for name, estimator in (
        ("SVC (RBF) on the pixels", SVC()),
        ("LogisticRegression on the pixels", LogisticRegression(max_iter=3000)),
    ):
        started = time.perf_counter()
        estimator.fit(x[fit], labeled.targets[fit])
        accuracy = float((estimator.predict(x[test]) == labeled.targets[test]).mean())
        rows.append(
            Row(labeled.name, name, top1=accuracy, times={"fit": time.perf_counter() - started})
        )
    if labeled.name == "digits":  # the anchor: scikit-learn's own 8×8 digits, same split
        from sklearn.datasets import load_digits

        raw = load_digits().data / 16.0
        started = time.perf_counter()
        svc = SVC().fit(raw[fit], labeled.targets[fit])
        accuracy = float((svc.predict(raw[test]) == labeled.targets[test]).mean())
        rows.append(
            Row(
                "digits",
                "SVC (RBF) on sklearn's 8x8",
                top1=accuracy,
                times={"fit": time.perf_counter() - started},
            )
        )
    return rows


def mobilenet_row() -> Row:
    """An untrained Keras MobileNetV2 (α 0.35, 96 px, 10 classes) as TF Lite: size and latency."""
    from emulator.core.exporter import tflite_from_keras
    from emulator.core.tf_setup import keras

    k = keras()
    k.utils.set_random_seed(0)
    model = k.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    calibration = np.random.default_rng(0).integers(0, 255, (32, 96, 96, 3)).astype(np.uint8)
    content = tflite_from_keras(model, 96)
    content_int8 = tflite_from_keras(model, 96, calibration)
    return Row(
        "-",
        "MobileNetV2 a0.35 96px, untrained",
        size=len(content),
        size_int8=len(content_int8),
        ms=latency_ms(content),
        ms_int8=latency_ms(content_int8),
    )


def train_row(
    labeled: datasets.LabeledSet,
    model_type: str,
    seed: int,
    tmp: Path,
    epochs_per_node_hour: float | None = None,
) -> Row:
    """One training at 1 node hour, its exports evaluated on TEST."""
    from emulator.core.evaluator import evaluate_model
    from emulator.core.exporter import export_model
    from emulator.core.trainer import TrainingConfig, train

    examples = labeled.examples()
    config = TrainingConfig(
        labels=labeled.labels,
        model_type=model_type,
        budget_milli_node_hours=1_000,
        epochs_per_node_hour=epochs_per_node_hour,
        seed=seed,
    )
    out = tmp / f"{labeled.name}-{model_type}-{seed}"
    result = train(examples, config, out)
    started = time.perf_counter()
    top1 = _top1(evaluate_model(result.model_dir, examples))
    evaluation = time.perf_counter() - started
    int8 = export_model(result.model_dir, "edgetpu_tflite", tmp / f"{out.name}-int8")
    content = (result.model_dir / "model.tflite").read_bytes()
    content_int8 = int8.file("model.tflite").path.read_bytes()
    return Row(
        labeled.name,
        f"{model_type} ({result.input_size}px)",
        seed=seed,
        top1=top1,
        top1_int8=_top1(evaluate_model(int8.directory, examples)),
        size=len(content),
        size_int8=len(content_int8),
        ms=latency_ms(content),
        ms_int8=latency_ms(content_int8),
        epochs=f"{result.epochs} (best {result.best_epoch}) {result.stop_reason}",
        epochs_run=result.epochs,
        times={**result.timings, "evaluation": evaluation},
    )


def mean_row(runs: list[Row]) -> Row:
    """The mean of one type's per-seed rows: accuracy and times averaged; sizes (the same for
    every seed) and latencies (load-dependent) as the largest and the median."""
    first = runs[0]
    return Row(
        first.set,
        first.model,
        top1=float(np.mean([r.top1 for r in runs])),
        top1_int8=float(np.mean([r.top1_int8 for r in runs])),
        size=max(r.size for r in runs),
        size_int8=max(r.size_int8 for r in runs),
        ms=float(np.median([r.ms for r in runs])),
        ms_int8=float(np.median([r.ms_int8 for r in runs])),
        epochs=f"mean of {len(runs)}: {np.mean([r.epochs_run for r in runs]):.1f}",
        times={k: float(np.mean([r.times[k] for r in runs])) for k in first.times},
    )


def _top1(evaluations) -> float:
    """Top-1 accuracy: recall_at1 at threshold 0 of the overall evaluation (multiclass)."""
    return evaluations[0].classification_evaluation_metrics.at(0.0).recall_at1


def _cell(value, fmt: str) -> str:
    if value is None:  # as wide as the column's numbers
        return "-".rjust(len(format(0, fmt)))
    return format(value, fmt)


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'set':<8} {'model (input)':<36} {'seed':>4} {'top-1':>7} {'int8':>7} {'MB':>6} "
        f"{'MB int8':>7} {'ms':>6} {'ms int8':>7}  "
        f"{'wall s: setup/epochs/export/eval (fit)':<40} epochs"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        times = "/".join(f"{v:.1f}" for v in r.times.values())
        size = None if r.size is None else r.size / MB
        size_int8 = None if r.size_int8 is None else r.size_int8 / MB
        print(
            f"{r.set:<8} {r.model:<36} {_cell(r.seed, '>4')} {_cell(r.top1, '7.2%')} "
            f"{_cell(r.top1_int8, '7.2%')} {_cell(size, '6.2f')} {_cell(size_int8, '7.2f')} "
            f"{_cell(r.ms, '6.3f')} {_cell(r.ms_int8, '7.3f')}  {times:<40} {r.epochs}"
        )


def _baseline(rows: list[Row], set_name: str, model: str) -> float | None:
    found = next((r for r in rows if r.set == set_name and r.model == model), None)
    return None if found is None else found.top1


def check_targets(rows: list[Row], seeds: int = 1) -> list[str]:
    """The issue's acceptance figures, each printed as a BENCH_ROW (bench/table.py); the
    misses, as sentences. With several seeds, the figures are of the mean rows."""
    trained = {(r.set, r.model.split(" ")[0]): r for r in rows if r.epochs and r.seed is None}
    of_seeds = f" (mean of {seeds} seeds)" if seeds > 1 else ""
    misses = []

    def figure(name, value, unit, target, met, baseline=None, baseline_of=""):
        row(name, value, unit, baseline=baseline, baseline_of=baseline_of, target=target, met=met)
        if not met:
            misses.append(f"{name}: {value:g} {unit}, target {target}")

    digits = trained.get(("digits", TYPES[0]))
    if digits:
        svc = _baseline(rows, "digits", "SVC (RBF) on sklearn's 8x8")
        top1 = digits.top1 * 100
        figure(
            f"digits low-latency TEST top-1{of_seeds}", round(top1, 2), "%", "≥ 99.4 %",
            top1 >= 99.4,
            None if svc is None else round(svc * 100, 2), "SVC on sklearn's 8×8, same split",
        )  # fmt: skip
        gap = abs(digits.top1_int8 - digits.top1) * 100
        figure(
            f"digits low-latency int8 vs float top-1{of_seeds}", round(gap, 2), "pt", "≤ 1 pt",
            gap <= 1,
        )  # fmt: skip
        # The worst seed's: the first training of a set also decodes its images.
        overhead = max(
            r.times["setup"] + r.times["export"]
            for r in rows
            if r.set == "digits" and r.seed is not None and r.model.startswith(TYPES[0])
        )
        figure("digits low-latency setup + export", round(overhead, 2), "s", "≤ 5 s", overhead <= 5)
    for set_name in PHOTO_SETS:
        photos = [trained.get((set_name, t)) for t in TYPES]
        if not all(photos):
            continue
        # Means of seeds' hit rates: the same number of hits must compare equal (no float noise).
        latency, balanced, accuracy = (round(r.top1, 9) for r in photos)
        svc = _baseline(rows, set_name, "SVC (RBF) on the pixels")
        for model_type, r in zip(TYPES, photos, strict=True):
            row(
                f"{set_name} {model_type} TEST top-1{of_seeds}", round(r.top1 * 100, 2), "%",
                baseline=None if svc is None else round(svc * 100, 2),
                baseline_of="SVC on the pixels, same run",
            )  # fmt: skip
        for name, larger, smaller in (
            ("versatile − low-latency", balanced, latency),
            ("high-accuracy − versatile", accuracy, balanced),
        ):
            figure(
                f"{set_name} {name} top-1", round((larger - smaller) * 100, 2), "pt",
                "accuracy ≥ balanced ≥ latency", larger >= smaller,
            )  # fmt: skip
        best = max(latency, balanced, accuracy)
        figure(
            f"{set_name} best TEST top-1{of_seeds}", round(best, 3), "", "≥ 0.92", best >= 0.92
        )  # fmt: skip
    mobilenet = next((r for r in rows if r.model.startswith("MobileNetV2")), None)
    for (name, model_type), r in trained.items():
        if model_type == TYPES[0]:
            figure(
                f"{name} low-latency int8 size", round(r.size_int8 / MB, 3), "MB", "≤ 0.6 MB",
                r.size_int8 <= 0.6 * MB,
                None if mobilenet is None else round(mobilenet.size_int8 / MB, 3),
                "MobileNetV2 α0.35 96 px int8",
            )  # fmt: skip
            figure(
                f"{name} low-latency int8 latency (1 thread)", round(r.ms_int8, 3), "ms",
                "≤ 1 ms", r.ms_int8 <= 1.0,
                None if mobilenet is None else round(mobilenet.ms_int8, 3),
                "MobileNetV2 α0.35 96 px int8",
            )  # fmt: skip
        limit = {TYPES[1]: 3.2, TYPES[2]: 6.0}.get(model_type)
        if limit is not None:
            short = "versatile" if model_type == TYPES[1] else "high-accuracy"
            figure(
                f"{name} {short} size", round(r.size / MB, 3), "MB", f"≤ {limit} MB",
                r.size <= limit * MB,
            )  # fmt: skip
    return misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", default="digits,photos12", help="comma-separated: digits,photos,photos12"
    )
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated model types")
    parser.add_argument(
        "--seeds",
        default="7,8,9,10,11,12",
        help="comma-separated training seeds (each type, each seed)",
    )
    parser.add_argument("--seed", type=int, default=None, help="one seed (instead of --seeds)")
    parser.add_argument(
        "--epochs-per-node-hour",
        default=None,
        help="budget in epochs (load-independent accuracy) instead of seconds: N, or one per "
        "--types (N1,N2,N3)",
    )
    args = parser.parse_args()
    seeds = [args.seed] if args.seed is not None else [int(s) for s in args.seeds.split(",")]
    types = args.types.split(",")
    epochs: list[float | None] = [None] * len(types)
    if args.epochs_per_node_hour is not None:
        epochs = [float(n) for n in args.epochs_per_node_hour.split(",")]
        if len(epochs) == 1:
            epochs *= len(types)
        if len(epochs) != len(types):
            parser.error("--epochs-per-node-hour: one number, or one per --types")

    from emulator.core.tf_setup import tensorflow
    from emulator.core.trainer import seconds_per_node_hour

    tensorflow()  # imported once, before anything is timed
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.epochs_per_node_hour is None:
        print(f"1 node hour = {seconds_per_node_hour():g} s of training steps")
    else:
        scale = ", ".join(f"{t}: {n:g}" for t, n in zip(types, epochs, strict=True))
        print(f"1 node hour = epochs ({scale})")
    print(f"seeds: {', '.join(map(str, seeds))}\n")
    rows = [mobilenet_row()]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            labeled = getattr(datasets, name)()
            counts = {s: int((labeled.splits == s).sum()) for s in ("TRAIN", "VALIDATION", "TEST")}
            print(f"{name}: {len(labeled.data)} images, {len(labeled.labels)} labels, {counts}")
            rows += baselines(labeled)
            for model_type, per_node_hour in zip(types, epochs, strict=True):
                runs = []
                for seed in seeds:
                    runs.append(train_row(labeled, model_type, seed, Path(tmp), per_node_hour))
                    print(
                        f"  trained {model_type} seed {seed}: top-1 {runs[-1].top1:.2%} "
                        f"({runs[-1].epochs}, load {os.getloadavg()[0]:.2f})",
                        flush=True,
                    )
                rows += runs
                rows.append(mean_row(runs))
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print_table(rows)
    print(
        f"\nms: LiteRT single thread, median of {LATENCY_RUNS} invokes, on a machine shared "
        f"with other work ({os.cpu_count()} cores; load averages above)"
    )
    misses = check_targets(rows, len(seeds))
    for miss in misses:
        print(f"TARGET MISSED: {miss}")
    if not misses:
        print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
