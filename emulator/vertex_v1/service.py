"""What Vertex AI's services share: its view of the core's resources and recorded operations.

Vertex AI resources have numeric ids: resources of the AutoML facade (ids `ICN…`) are not
visible here (NotFound, with Vertex AI's messages).

Model versions: every model the emulator trains is the first and only version of its model
(`version_id` "1", alias `default`), so a model name may carry `@1` or `@default`
(`projects/{p}/locations/{l}/models/{m}@1`), as the ModelService reference allows and as the
high-level SDK sends them (`Model.versioned_resource_name`). Another version or alias is
NotFound.
"""

from emulator.core.backend import Backend
from emulator.core.datasets import Dataset
from emulator.core.errors import InvalidArgument, NotFound
from emulator.core.models.records import Model
from emulator.core.names import ResourceName, parse_resource
from emulator.vertex_v1.operations import record
from emulator.vertex_v1.resources import VERSION_ALIASES, VERSION_ID

MAX_DISPLAY_NAME_CHARS = 128


def validate_display_name(display_name: str, field: str) -> None:
    """Vertex AI's display names (datasets, models, pipelines): "up to 128 characters long and
    can consist of any UTF-8 characters"; required."""
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidArgument(
            f"Field: {field}; Message: {display_name[:40]!r}: a display name is required and "
            f"has at most {MAX_DISPLAY_NAME_CHARS} characters (any UTF-8)"
        )


def split_version(name: str) -> tuple[str, str]:
    """`…/models/{m}@{version or alias}` → (`…/models/{m}`, version); no `@` → (name, "")."""
    model, sep, version = (name or "").partition("@")
    return model, version if sep else ""


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

    def _model(self, name: str, field: str = "name", versioned: bool = True) -> Model:
        """The model `name` names; with `versioned`, `name` may end in `@1` or `@default`."""
        unversioned, version = split_version(name) if versioned else (name, "")
        self._name(unversioned, "models", "Model", field)
        try:
            model = self.backend.models.get(unversioned)
        except NotFound:
            raise NotFound(f"Model {name} does not exist.") from None
        if version and version not in (VERSION_ID, *VERSION_ALIASES):
            raise NotFound(
                f"Model {name} does not exist: model {unversioned} has one version, "
                f"{VERSION_ID} (alias {', '.join(VERSION_ALIASES)})."
            )
        return model

    def _record(self, parent: str, kind: str, resource: str, response: dict | None = None):
        return record(self.backend, parent, kind, resource, response)
