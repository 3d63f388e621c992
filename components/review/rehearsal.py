"""`edgectl rehearse`: the declared pipeline, run once against a fresh local emulator.

Before anything is spent in the cloud, a pull request that changes data or acceptance can be
rehearsed: a new emulator (in this process, in a temporary data directory) and the same
provider code as `pulumi up`, called in dependency order — each resource's `check`, then its
`create`, outputs feeding inputs as the engine does — without Pulumi state or the CLI. The
resources and their inputs are the plan's (plan.py: the program's declarations). The report
gives, per model, the metrics at the chosen threshold and the gate's verdict (a failed gate is
reported, not raised); with a base revision (read from git into its own directory and
rehearsed first, on the same emulator, so an unchanged model is adopted rather than trained
twice) it gives the change of every metric. The stack's overlay applies, but every stack is
rehearsed on the emulator (`emulator: true`, `api: automl_v1`). Each trained model is then
judged against every stack's gate (stack_gates.py): the rehearsal fails when any would fail.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from components.cloud.adapters import training_api
from components.cloud.clients import CloudTarget, cloud_target
from components.cloud.storage import ObjectStore, split_uri
from components.data.manifest import source_label_order
from components.evaluation.gate import Criteria, GateResult, evaluate
from components.evaluation.metrics import (
    KEPT_EVALUATION_FILE,
    Evaluations,
    evaluations_to_json,
)
from components.evaluation.report import (
    ModelMetrics,
    ModelReport,
    plot_confusion_matrix,
    plot_precision_recall,
    top1_counts,
    write_report,
)
from components.graph import Graph, Node, resolve
from components.providers.base import EXPECTED_ERRORS
from components.review.plan import (
    Checker,
    absolute_paths,
    patched_environ,
    plan_stack,
    scan_cache_in,
)
from components.review.revisions import checkout
from components.review.stack_gates import StackVerdict, judge_on_stacks, render_verdicts
from components.spec import SpecError, SpecIssue, TrainingApiKind, load_specs, load_stack_config

Log = Callable[[str], None]
Props = dict[str, Any]


class StepFailed(Exception):
    """A provider refused a step (what `pulumi up` would show for that resource)."""


class Engine(Protocol):
    """How resources are checked and created: in this process, or through a provider host."""

    def check(self, node: Node, props: Props) -> Props: ...

    def create(self, node: Node, inputs: Props) -> tuple[str, Props]: ...


class InProcessEngine:
    """Calls the providers' `check` and `create` directly, as the SDK's host would."""

    def check(self, node: Node, props: Props) -> Props:
        result = node.provider().check({}, props)
        if result.failures:
            raise StepFailed("; ".join(f.reason for f in result.failures))
        return dict(result.inputs)

    def create(self, node: Node, inputs: Props) -> tuple[str, Props]:
        try:
            result = node.provider().create(inputs)
        except EXPECTED_ERRORS as err:
            raise StepFailed(str(err)) from None
        return str(result.id), dict(result.outs or {})


@dataclass
class Deployment:
    """What a run created (outputs by resource name) and what failed or was skipped."""

    outputs: dict[str, Props] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # resource → message
    skipped: dict[str, str] = field(default_factory=dict)  # resource → failed dependency


def deploy(
    graph: Graph,
    engine: Engine,
    root: Path,
    log: Log = print,
    include: Callable[[Node], bool] = lambda node: True,
) -> Deployment:
    """Creates the graph's nodes in order; a failure skips what depends on it."""
    run = Deployment()
    for node in graph.nodes:
        if not include(node):
            continue
        missing = sorted(d for d in node.dependencies() if d not in run.outputs)
        if missing:
            run.skipped[node.name] = missing[0]
            log(f"[rehearse] {node.type} {node.name}: skipped ({missing[0]} failed)")
            continue
        props = absolute_paths(resolve(dict(node.inputs), run.outputs), root)
        try:
            inputs = engine.check(node, props)
            _, outputs = engine.create(node, inputs)
        except StepFailed as err:
            run.failed[node.name] = str(err)
            first, *rest = str(err).splitlines() or [""]
            log(f"[rehearse] {node.type} {node.name}: failed: {first}")
            # The whole message, as `pulumi up` shows it: a failed gate lists every unmet
            # criterion (observed vs required) on the lines after its first.
            for line in filter(str.strip, rest):
                log(f"[rehearse]   {line.strip()}")
            continue
        run.outputs[node.name] = outputs
    return run


@contextlib.contextmanager
def fresh_emulator(directory: Path) -> Iterator[dict[str, str]]:
    """A new emulator in this process (state in `directory`), its environment set meanwhile."""
    from emulator.server import EmulatorServer  # a fake cloud, for rehearsals only

    server = EmulatorServer(directory)
    env = server.start()
    try:
        with patched_environ(env):
            yield env
    finally:
        server.stop()


@dataclass(frozen=True)
class ModelOutcome:
    """One model of one rehearsed revision."""

    name: str
    fingerprint: str | None = None
    gate: GateResult | None = None
    gate_error: str | None = None  # the gate provider's message when it refused the model
    error: str | None = None  # a step before the gate failed
    evaluations: Evaluations | None = None
    facts: tuple[tuple[str, str], ...] = ()
    metrics: ModelMetrics | None = None  # promoted models: from the source record
    labels: tuple[str, ...] = ()  # the dataset's label order
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    criteria: Mapping[str, Any] | None = None  # the gate's criteria input
    model_files: Mapping[str, bytes] = field(default_factory=dict)  # the TF Lite export


@dataclass(frozen=True)
class RevisionOutcome:
    label: str
    models: Mapping[str, ModelOutcome]
    errors: tuple[str, ...] = ()  # the revision could not be rehearsed at all
    deployment: Deployment | None = None


def rehearse_revision(
    root: Path, stack: str, label: str, publications: bool, log: Log = print
) -> RevisionOutcome:
    """Loads, plans and deploys one revision of the project on the running emulator."""
    try:
        config = load_stack_config(stack, root)
        specs = load_specs(root / config.specs, stack)
    except SpecError as err:
        return RevisionOutcome(label, {}, tuple(_render(i, root) for i in err.issues))
    config = replace(config, emulator=True, api=TrainingApiKind.AUTOML_V1)
    plan = plan_stack(specs, config, root, Checker())
    if plan.errors or plan.graph is None:
        return RevisionOutcome(label, {}, tuple(_render(i, root) for i in plan.errors))
    graph = plan.graph
    log(f"[rehearse] {label}: {len(graph.nodes)} resources on stack '{stack}' (emulator)")
    run = deploy(
        graph,
        InProcessEngine(),
        root,
        log,
        include=lambda node: publications or node.role not in ("publication", "rollout"),
    )
    target = cloud_target(config)
    models = {name: _model_outcome(name, graph, run, target) for name in sorted(specs.models)}
    return RevisionOutcome(label, models, (), run)


def _render(issue: SpecIssue, root: Path) -> str:
    text = issue.render()
    return text.replace(f"{root}/", "")


def _model_outcome(name: str, graph: Graph, run: Deployment, target: CloudTarget) -> ModelOutcome:
    document = ("Model", name)
    promoted_node = graph.node(document, "promoted")
    if promoted_node is not None:
        promoted = run.outputs.get(promoted_node.name)
        if promoted is None:
            failed = run.failed.get(promoted_node.name)
            return ModelOutcome(name, error=failed or _failure(promoted_node.name, run))
        return ModelOutcome(
            name,
            fingerprint=promoted.get("fingerprint"),
            metrics=ModelMetrics(
                promoted.get("threshold"),
                promoted.get("precision"),
                promoted.get("recall"),
                None,
                promoted.get("auPrc"),
            ),
            facts=(("promoted from", str(promoted.get("source", {}).get("stack"))),),
        )
    trained_node, gate_node = graph.node(document, "model"), graph.node(document, "gate")
    assert trained_node is not None and gate_node is not None
    trained = run.outputs.get(trained_node.name)
    if trained is None:
        return ModelOutcome(name, error=_failure(trained_node.name, run))
    model_spec = trained_node.document
    dataset_node = graph.node(("Dataset", getattr(model_spec, "dataset", "")), "dataset")
    dataset = run.outputs.get(dataset_node.name, {}) if dataset_node is not None else {}
    source = getattr(dataset_node.document, "source", None) if dataset_node else None
    labels = (
        source_label_order(source.kind.value, source.path, str(source.path), source.labels)
        if source is not None and source.path is not None
        else ()
    )
    export_node = graph.node(document, "export")
    export = run.outputs.get(export_node.name) if export_node is not None else None
    evaluations = training_api(target).evaluations(trained["modelName"])
    # The gate provider's own decision is what counts; the same evaluate() gives the figures.
    result = evaluate(evaluations, Criteria.from_props(gate_node.inputs["criteria"]))
    facts = [
        ("images (train / validation / test)", _split_counts(dataset)),
        ("stop reason", str(trained.get("stopReason"))),
        ("node hours used", f"{(trained.get('trainCostMilliNodeHours') or 0) / 1000:g}"),
        ("cloud model", str(trained.get("modelName"))),
    ]
    return ModelOutcome(
        name,
        fingerprint=trained.get("fingerprint"),
        gate=result,
        gate_error=run.failed.get(gate_node.name),
        evaluations=evaluations,
        facts=tuple(facts),
        metrics=ModelMetrics.from_gate(result),
        labels=labels,
        dataset=dataset_node.document.name if dataset_node else None,
        dataset_fingerprint=dataset.get("fingerprint"),
        criteria=gate_node.inputs["criteria"],
        model_files=_tflite_files(target, export),
    )


def _tflite_files(target: CloudTarget, export: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The TF Lite export's files (model.tflite, dict.txt, tflite_metadata.json) by name,
    read while the rehearsal's emulator runs; none when the model was not exported."""
    artifact = ((export or {}).get("artifacts") or {}).get("tflite")
    if not artifact:
        return {}
    bucket, prefix = split_uri(str(artifact["directory"]).rstrip("/") + "/")
    store = ObjectStore(target, bucket)
    files = {}
    for name in sorted(store.names(prefix)):
        data = store.read(name)
        if data is not None and "/" not in name[len(prefix) :]:
            files[name[len(prefix) :]] = data
    return files


def _failure(resource: str, run: Deployment) -> str:
    """The message of the step that made `resource` fail or be skipped."""
    while resource in run.skipped:  # follow the skips to the step that failed
        resource = run.skipped[resource]
    return f"{resource}: {run.failed.get(resource, 'not run')}"


def _split_counts(dataset: Mapping[str, Any]) -> str:
    counts = dataset.get("labelCounts") or {}
    if not counts:
        return str(dataset.get("imageCount", "?"))
    totals: dict[str, int] = {}
    for per_split in counts.values():
        for split, n in (per_split or {}).items():
            totals[split] = totals.get(split, 0) + int(n)
    ordered = [totals.get(s, 0) for s in ("TRAIN", "VALIDATION", "TEST")]
    return f"{dataset.get('imageCount', sum(ordered))} ({' / '.join(map(str, ordered))})"


@dataclass(frozen=True)
class Rehearsal:
    report: Path
    head: RevisionOutcome
    base: RevisionOutcome | None
    stacks: tuple[StackVerdict, ...] = ()  # the trained models against every stack's gate

    @property
    def passed(self) -> bool:
        """Every model of the head revision passed its gate (and nothing failed before), and
        would pass every stack's gate."""
        if self.head.errors or any(v.failed for v in self.stacks):
            return False
        return all(
            m.error is None and m.gate_error is None and (m.gate is None or m.gate.passed)
            for m in self.head.models.values()
        )


def rehearse(
    project_dir: Path,
    stack: str,
    out_dir: Path,
    base_rev: str | None = None,
    log: Log = print,
    artifact_url: str | None = None,
) -> Rehearsal:
    """Rehearses the working tree (and `base_rev` first) and writes the report to `out_dir`
    (with `artifact_url`, also summary.md: the plots linked to where `out_dir` is uploaded),
    and per trained model `out_dir/<model>/`: its evaluation and TF Lite model, for
    `edgectl studio --rehearsal`."""
    project_dir = Path(project_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="edgectl-rehearse-") as scratch:
        tmp = Path(scratch)
        base_checkout = checkout(project_dir, base_rev, tmp / "base") if base_rev else None
        log(f"[rehearse] starting a fresh emulator in {tmp / 'emulator'}")
        with fresh_emulator(tmp / "emulator"), scan_cache_in(tmp / "cache"):
            base = None
            if base_checkout is not None:
                log(f"[rehearse] base revision {base_checkout.label}")
                base = rehearse_revision(
                    base_checkout.root, stack, f"base {base_checkout.label}", False, log
                )
            log("[rehearse] this revision (working tree)")
            head = rehearse_revision(project_dir, stack, "working tree", True, log)
    reports = [
        _model_report(outcome, out_dir, base.models.get(name) if base else None, stack)
        for name, outcome in head.models.items()
    ]
    notes = [f"Stack `{stack}` rehearsed on a fresh local emulator (nothing was spent)."]
    notes += [f"This revision could not be rehearsed: {e}" for e in head.errors]
    if base is not None:
        notes.append(f"Compared with {base.label}.")
        notes += [f"The base revision could not be rehearsed: {e}" for e in base.errors]
    trained = {n: m.evaluations for n, m in head.models.items() if m.evaluations is not None}
    stacks = judge_on_stacks(project_dir, trained)
    for verdict in stacks:
        if verdict.failed:
            why = verdict.error or "; ".join(verdict.result.failures if verdict.result else ())
            log(f"[rehearse] Model {verdict.model} would fail stack '{verdict.stack}': {why}")
    sections = render_verdicts(stacks)
    path = write_report(
        out_dir, f"Rehearsal of stack {stack}", reports, notes, sections, artifact_url
    )
    log(f"[rehearse] report: {path}")
    return Rehearsal(path, head, base, stacks)


def _model_report(
    outcome: ModelOutcome, out_dir: Path, base: ModelOutcome | None, stack: str
) -> ModelReport:
    plots: list[tuple[str, str]] = []
    if outcome.evaluations is not None:
        chosen = outcome.gate.point.threshold if outcome.gate and outcome.gate.point else None
        base_eval = base.evaluations if base is not None else None
        base_chosen = base.gate.point.threshold if base and base.gate and base.gate.point else None
        pr = plot_precision_recall(
            outcome.evaluations.overall,
            out_dir / f"{outcome.name}-precision-recall.png",
            f"Model {outcome.name}: precision / recall vs threshold (TEST split)",
            chosen,
            base_eval.overall if base_eval else None,
            base_chosen,
        )
        plots.append(("precision and recall vs threshold", pr.name))
        confusion = plot_confusion_matrix(
            outcome.evaluations.overall,
            out_dir / f"{outcome.name}-confusion-matrix.png",
            f"Model {outcome.name}: top-1 confusion matrix (TEST split, no threshold)",
            outcome.labels,
        )
        if confusion is not None:
            plots.append(("confusion matrix", confusion.name))
        _keep_for_studio(outcome, out_dir / outcome.name, stack)
    failures = tuple(outcome.gate.failures) if outcome.gate else ()
    if outcome.gate_error and not failures:
        failures = (outcome.gate_error,)
    return ModelReport(
        name=outcome.name,
        fingerprint=outcome.fingerprint,
        passed=_passed(outcome),
        policy=outcome.gate.policy if outcome.gate else None,
        failures=failures,
        error=outcome.error,
        metrics=outcome.metrics,
        facts=outcome.facts,
        plots=tuple(plots),
        base=None if base is None else _model_report_plain(base),
        labels=outcome.labels,
        top1=top1_counts(outcome.evaluations.overall) if outcome.evaluations else {},
    )


def _keep_for_studio(outcome: ModelOutcome, directory: Path, stack: str) -> None:
    """What `edgectl studio --rehearsal DIR` reads: the evaluation, the gate's criteria, the
    dataset's label order and fingerprint, and the exported TF Lite files."""
    assert outcome.evaluations is not None
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in outcome.model_files.items():
        (directory / name).write_bytes(data)
    kept = {
        "model": outcome.name,
        "stack": stack,
        "fingerprint": outcome.fingerprint,
        "dataset": outcome.dataset,
        "datasetFingerprint": outcome.dataset_fingerprint,
        "labels": list(outcome.labels),
        "criteria": dict(outcome.criteria or {}),
        "modelFiles": sorted(outcome.model_files),
        "evaluations": evaluations_to_json(outcome.evaluations),
    }
    (directory / KEPT_EVALUATION_FILE).write_text(
        json.dumps(kept, indent=2) + "\n", encoding="utf-8"
    )


def _passed(outcome: ModelOutcome) -> bool | None:
    if outcome.gate is not None:
        return outcome.gate.passed and outcome.gate_error is None
    # A promoted model exists only when its record passed and met this stack's acceptance.
    return True if outcome.metrics is not None else None


def _model_report_plain(outcome: ModelOutcome) -> ModelReport:
    return ModelReport(
        name=outcome.name,
        fingerprint=outcome.fingerprint,
        passed=_passed(outcome),
        error=outcome.error,
        metrics=outcome.metrics,
    )
