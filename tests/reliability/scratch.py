"""A scratch stack for the money tests: its own emulator project (so counts start at 0), a
bucket, a small digits dataset spec and a model spec, driven through the SDK's provider host."""

import contextlib
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.cloud.adapters import training_api
from components.cloud.clients import CloudTarget
from components.cloud.training import LABEL_MANAGED, CloudDataset
from components.graph import build_graph, resolve
from components.spec import SpecSet, load_specs, stack_config_from_mapping
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import HANG_GUARD_S, LOCATION, storage_client
from tests.fixtures.provider_host import ProviderCallError, ProviderHost
from tests.fixtures.trainings import training_operations

LABELS = ("zero", "one", "two")
RETRY_ENV = "EDGE_LABELER_RETRY"  # components/cloud/retry.py
# Retries in milliseconds, giving up after a few seconds: a provider's whole retry story runs
# in a test (the deadline only decides when an endless outage is reported, never a result).
FAST_RETRY = "initial=0.01,maximum=0.05,deadline=3"
# What each API calls to start a training, and what a provider polls while it waits.
CREATE = {"automl_v1": "CreateModel", "vertex": "CreateTrainingPipeline"}
WAIT = {"automl_v1": "GetOperation", "vertex": "GetTrainingPipeline"}
COMMIT = "CreateModel.commit"  # the emulator's step before a trained model is committed

SPECS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: digits}
spec:
  bucket: data
  source: {zip: ../digits.zip}
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {nodeHours: 1}
  export: [tflite]
  acceptance:
    threshold: {fixed: 0.5}
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {name: digits}
spec:
  model: digits
  target: firebase-ml
  displayName: digits_money
  published: true
"""


@dataclass
class Outcome:
    """What a provider call in a background thread answered, once `thread` ended."""

    thread: threading.Thread
    result: Any = None
    error: ProviderCallError | None = None

    def join(self) -> "Outcome":
        self.thread.join(HANG_GUARD_S)
        assert not self.thread.is_alive(), "the provider call hangs"
        return self


def in_background(call: Callable[[], Any]) -> Outcome:
    """Runs a provider call in a thread (the test meanwhile holds, kills, counts)."""
    outcome = Outcome(threading.Thread(daemon=True, target=lambda: None))

    def run() -> None:
        try:
            outcome.result = call()
        except ProviderCallError as err:  # killed under it, or an error the test asserts
            outcome.error = err

    outcome.thread = threading.Thread(target=run, daemon=True)
    outcome.thread.start()
    return outcome


@dataclass
class Scratch:
    directory: Path
    target: CloudTarget
    bucket: str
    env: Mapping[str, str]  # the emulator's
    hosts: list[ProviderHost] = field(default_factory=list)

    @property
    def specs(self) -> SpecSet:
        return load_specs(self.directory / "specs")

    def host(self, **env: str) -> ProviderHost:
        """A new provider host (one `pulumi up`), with fast retries; stopped at the end."""
        started = ProviderHost(cwd=self.directory, env={RETRY_ENV: FAST_RETRY, **env}).start()
        started.configure({})
        self.hosts.append(started)
        return started

    def _inputs(self, host: ProviderHost, kind: str, role: str, **created: Mapping) -> dict:
        """A node's inputs as the engine passes them: the graph's, with the outputs of the
        nodes created so far (`dataset=`, `model=`, `gate=`, `export=`) where they go."""
        config = stack_config_from_mapping(
            "local",
            {"project": self.target.project, "api": self.target.api, "emulator": "true"},
        )
        node = build_graph(self.specs, config, self.directory).node((kind, "digits"), role)
        assert node is not None
        outputs = {"data-bucket": {"bucketName": self.bucket}}
        outputs.update({f"digits-{part}": outs for part, outs in created.items()})
        urn = host.urn(f"edge-labeler:{node.type}", "digits")
        inputs, failures = host.check(
            urn, host.inputs(node.provider(), resolve(node.inputs, outputs))
        )
        assert failures == []
        return inputs

    def dataset_inputs(self, host: ProviderHost) -> dict:
        return self._inputs(host, "Dataset", "dataset")

    def create_dataset(self, host: ProviderHost) -> dict:
        inputs = self.dataset_inputs(host)
        return host.create(host.urn("edge-labeler:Dataset", "digits"), inputs)[1]

    def model_inputs(self, host: ProviderHost, dataset: Mapping[str, Any]) -> dict:
        return self._inputs(host, "Model", "model", dataset=dataset)

    def create_model(self, host: ProviderHost, dataset: Mapping[str, Any]) -> dict:
        inputs = self.model_inputs(host, dataset)
        return host.create(self.model_urn(host), inputs)[1]

    @staticmethod
    def model_urn(host: ProviderHost) -> str:
        return host.urn("edge-labeler:TrainedModel", "digits")

    def gate(self, host: ProviderHost, model: Mapping[str, Any]) -> dict:
        return self._create(host, self._inputs(host, "Model", "gate", model=model))

    def export(self, host: ProviderHost, model: Mapping[str, Any], gate: Mapping) -> dict:
        dataset = {"fingerprint": model["datasetFingerprint"]}  # as the model saw it
        inputs = self._inputs(host, "Model", "export", dataset=dataset, model=model, gate=gate)
        return self._create(host, inputs, "ModelExport")

    def publish(
        self, host: ProviderHost, model: Mapping[str, Any], gate: Mapping, export: Mapping
    ) -> dict:
        inputs = self._inputs(
            host, "Publication", "publication", model=model, gate=gate, export=export
        )
        return self._create(host, inputs, "Publication")

    @staticmethod
    def _create(host: ProviderHost, inputs: Mapping, kind: str = "AcceptanceGate") -> dict:
        return host.create(host.urn(f"edge-labeler:{kind}", "digits"), inputs)[1]

    def trainings(self) -> int:
        """Trainings started (and billed, on Google) in this stack's project."""
        return len(training_operations(self.target))

    def datasets(self) -> list[CloudDataset]:
        """The cloud datasets this tool made in this stack's project."""
        return training_api(self.target).find_datasets({LABEL_MANAGED: "dataset"})

    def close(self) -> None:
        for host in self.hosts:
            with contextlib.suppress(Exception):
                host.stop()


def new_scratch(root: Path, api: str, env: Mapping[str, str]) -> Scratch:
    """A stack in a project of its own, with its bucket and a 3 × 20 digits zip."""
    project = f"money-{uuid.uuid4().hex[:10]}"
    target = CloudTarget(stack="local", project=project, region=LOCATION, api=api, emulator=True)
    bucket = f"{project}-data"
    storage_client(env, project).create_bucket(bucket)
    (root / "project" / "specs").mkdir(parents=True)
    (root / "project" / "specs" / "all.yaml").write_text(SPECS)
    write_zip(root / "project" / "digits.zip", digit_images(20, LABELS))
    return Scratch(root / "project", target, bucket, env)
