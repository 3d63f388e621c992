"""What Vertex AI's services share: its view of the core's resources and recorded operations.

Vertex AI resources have numeric ids: resources of the AutoML facade (ids `ICN…`) are not
visible here (NotFound, with Vertex AI's messages).
"""

from emulator.core.backend import Backend
from emulator.core.datasets import Dataset
from emulator.core.errors import NotFound
from emulator.core.models.records import Model
from emulator.core.names import ResourceName, parse_resource
from emulator.vertex_v1.operations import record


class VertexService:
    """A Vertex AI service over the core: one method per RPC, ServiceError on failure."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- names and visibility -------------------------------------------------------------

    @staticmethod
    def _name(name: str, collection: str, kind: str, field: str = "name") -> ResourceName:
        """A Vertex AI resource name; NotFound for ids that are not Vertex AI's (numeric)."""
        parsed = parse_resource(name, collection, kind, field)
        if not parsed.id.isdigit():
            raise NotFound(f"{kind} {name} does not exist.")
        return parsed

    def _dataset(self, name: str, field: str = "name") -> Dataset:
        self._name(name, "datasets", "Dataset", field)
        try:
            return self.backend.datasets.get(name)
        except NotFound:
            raise NotFound(f"Dataset {name} does not exist.") from None

    def _model(self, name: str, field: str = "name") -> Model:
        self._name(name, "models", "Model", field)
        try:
            return self.backend.models.get(name)
        except NotFound:
            raise NotFound(f"Model {name} does not exist.") from None

    def _record(self, parent: str, kind: str, resource: str, response: dict | None = None):
        return record(self.backend, parent, kind, resource, response)
