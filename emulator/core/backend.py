"""The emulator's service state and behaviour, shared by every facade (AutoML, Vertex, Firebase ML).

Layout under the state directory:
    operations/<id>.json        one file per long-running operation
    datasets/<id>.json          one file per dataset (metadata, examples, annotation specs)
    images/                     imported images, content-addressed (see image_store.py)
    models/<id>.json            one file per model (metadata, evaluations, deployment)
    trained_models/<id>/        trained model directories (see emulator/core/models/)
    model_exports/<op id>/      a model export staged before its upload
    training_pipelines/<id>.json  one file per training pipeline (Vertex AI)
"""

import logging
from pathlib import Path

from emulator.core.blobs import Blobs
from emulator.core.datasets import DatasetStore
from emulator.core.endpoints import EndpointStore
from emulator.core.faults import FaultInjector
from emulator.core.image_store import ImageStore
from emulator.core.models.exports import ModelExports
from emulator.core.models.records import ModelStore
from emulator.core.models.serving import ModelServing
from emulator.core.models.training import ModelTrainings
from emulator.core.operations import OperationStore
from emulator.core.persistence import GroupSync, remove_temp_files
from emulator.core.pipelines import PipelineStore

log = logging.getLogger(__name__)


class Backend:
    """The stores of one emulator instance: `open()` loads and recovers, `close()` stops work."""

    def __init__(
        self,
        state_dir: Path,
        blobs: Blobs,
        faults: FaultInjector,
        group: GroupSync | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.blobs = blobs
        self.faults = faults
        self.images = ImageStore(state_dir / "images", group)
        self.operations = OperationStore(state_dir / "operations", faults, group)
        self.datasets = DatasetStore(state_dir / "datasets", self.images, blobs, self.operations)
        self.models = ModelStore(state_dir, self.operations)
        self.trainings = ModelTrainings(self.models, self.datasets, self.operations)
        self.serving = ModelServing(self.models, blobs, self.operations)
        self.endpoints = EndpointStore(state_dir / "endpoints", self.models, self.serving)
        self.model_exports = ModelExports(
            self.models, blobs, self.operations, state_dir / "model_exports"
        )
        self.pipelines = PipelineStore(
            state_dir / "training_pipelines", self.trainings, self.operations
        )

    def open(self) -> None:
        """Loads state; operations left running by a crash are finished (see OperationStore.load).

        Resource stores load before operations, so recoveries can inspect what was committed.
        """
        removed = remove_temp_files(self.state_dir)
        if removed:
            log.warning("removed %d partial files left by an interrupted write", removed)
        self.images.load()
        self.datasets.load()
        self.models.load()
        self.endpoints.load()
        self.model_exports.load()
        self.pipelines.load()
        self.operations.load()
        self.models.remove_orphans()

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stops background work (see OperationStore.shutdown); the operations still running."""
        running = self.operations.shutdown(timeout)
        self.datasets.close()
        self.images.close()
        return running
