"""Endpoints: where Vertex AI serves a deployed model's online predictions.

An endpoint holds deployed models (each a model of the store, with its own id) and a traffic
split (deployed model id → percent, summing to 100 when any is deployed). A model serves while
at least one endpoint holds it: deploying starts the core's deployment of the model (its
TF Lite predictor, emulator/core/models/serving.py) unless it is deployed already; undeploying
the last deployment of a model undeploys it. The endpoint record changes when the request is
accepted; predictions wait for the model's deployment operation (FAILED_PRECONDITION until
then). One JSON file per endpoint under `<state>/endpoints/`, written atomically.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from emulator.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from emulator.core.models.records import ModelStore
from emulator.core.models.serving import ModelServing
from emulator.core.names import LocationName, new_id, parse_resource
from emulator.core.operations import Operation, utcnow
from emulator.core.persistence import atomic_write_json, read_record, remove_file


@dataclass(frozen=True)
class DeployedModel:
    id: str
    model: str  # the model's resource name (without a version)
    display_name: str
    create_time: datetime

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "model": self.model,
            "display_name": self.display_name,
            "create_time": self.create_time.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "DeployedModel":
        return cls(
            data["id"],
            data["model"],
            data["display_name"],
            datetime.fromisoformat(data["create_time"]),
        )


@dataclass(frozen=True)
class Endpoint:
    name: str
    display_name: str
    description: str
    labels: dict[str, str]
    create_time: datetime
    update_time: datetime
    deployed_models: tuple[DeployedModel, ...]
    traffic_split: dict[str, int]

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "labels": self.labels,
            "create_time": self.create_time.isoformat(),
            "update_time": self.update_time.isoformat(),
            "deployed_models": [d.to_json() for d in self.deployed_models],
            "traffic_split": self.traffic_split,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Endpoint":
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            description=data.get("description", ""),
            labels=dict(data.get("labels", {})),
            create_time=datetime.fromisoformat(data["create_time"]),
            update_time=datetime.fromisoformat(data["update_time"]),
            deployed_models=tuple(DeployedModel.from_json(d) for d in data["deployed_models"]),
            traffic_split={k: int(v) for k, v in data.get("traffic_split", {}).items()},
        )

    def serving(self) -> DeployedModel:
        """The deployed model that answers: the largest traffic share (the first on a tie).
        Google splits requests at random by the shares; the emulator answers deterministically."""
        if not self.deployed_models:
            raise FailedPrecondition(
                f"Endpoint {self.name} has no deployed model; deploy one with DeployModel first"
            )
        return max(self.deployed_models, key=lambda d: self.traffic_split.get(d.id, 0))


def _traffic(
    split: Mapping[str, int], ids: set[str], field: str, new_id: str | None = None
) -> dict[str, int]:
    """A traffic split over `ids` ("0" in a DeployModel request names the new model)."""
    resolved = {(new_id if key == "0" and new_id else key): int(v) for key, v in split.items()}
    unknown = sorted(set(resolved) - ids)
    if unknown:
        raise InvalidArgument(
            f"Field: {field}; Message: {', '.join(unknown)} is not a deployed model of the "
            f"endpoint; its deployed models: {', '.join(sorted(ids)) or 'none'}"
        )
    if any(v < 0 or v > 100 for v in resolved.values()):
        raise InvalidArgument(f"Field: {field}; Message: each share is a percent, 0–100")
    if ids and sum(resolved.values()) != 100:
        raise InvalidArgument(
            f"Field: {field}; Message: the shares sum to {sum(resolved.values())}; they must sum "
            "to 100"
        )
    return {k: v for k, v in resolved.items() if v}


class EndpointStore:
    def __init__(self, root: Path, models: ModelStore, serving: ModelServing) -> None:
        self._root = root
        self._models = models
        self._serving = serving
        self._lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}

    def load(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._root.glob("*.json")):
            endpoint = Endpoint.from_json(read_record(path))
            self._endpoints[endpoint.name] = endpoint

    def _path(self, endpoint: Endpoint) -> Path:
        return self._root / f"{endpoint.id}.json"

    def _save(self, endpoint: Endpoint) -> Endpoint:
        atomic_write_json(self._path(endpoint), endpoint.to_json())
        self._endpoints[endpoint.name] = endpoint
        return endpoint

    def create(
        self,
        location: LocationName,
        display_name: str,
        description: str,
        labels: dict[str, str],
        endpoint_id: str = "",
    ) -> Endpoint:
        now = utcnow()
        name = str(location.child("endpoints", endpoint_id or new_id()))
        with self._lock:
            if name in self._endpoints:
                raise AlreadyExists(f"Endpoint {name} already exists.")
            return self._save(
                Endpoint(name, display_name, description, dict(labels), now, now, (), {})
            )

    def get(self, name: str) -> Endpoint:
        parse_resource(name, "endpoints", "Endpoint")
        with self._lock:
            found = self._endpoints.get(name)
        if found is None:
            raise NotFound(f"Endpoint {name} does not exist.")
        return found

    def list_endpoints(self, location: LocationName) -> list[Endpoint]:
        prefix = f"{location}/endpoints/"
        with self._lock:
            found = [e for e in self._endpoints.values() if e.name.startswith(prefix)]
        return sorted(found, key=lambda e: e.create_time)

    def delete(self, name: str) -> None:
        endpoint = self.get(name)
        if endpoint.deployed_models:
            raise FailedPrecondition(
                f"Endpoint {name} has deployed models "
                f"({', '.join(d.id for d in endpoint.deployed_models)}); undeploy them first"
            )
        with self._lock:
            remove_file(self._path(endpoint))
            self._endpoints.pop(name, None)

    def holding(self, model: str) -> list[Endpoint]:
        """The endpoints a model is deployed to."""
        with self._lock:
            return [
                e
                for e in self._endpoints.values()
                if any(d.model == model for d in e.deployed_models)
            ]

    def deploy(
        self,
        name: str,
        model: str,
        display_name: str,
        traffic_split: Mapping[str, int],
        *,
        traffic_field: str,
        api: str,
    ) -> tuple[Endpoint, DeployedModel, Operation]:
        """Adds `model` to the endpoint and starts its deployment; the operation's details name
        the deployed model (`deployed_model`)."""
        endpoint = self.get(name)
        deployed = DeployedModel(new_id(digits=19), model, display_name, utcnow())
        ids = {d.id for d in endpoint.deployed_models} | {deployed.id}
        if traffic_split:
            split = _traffic(traffic_split, ids, traffic_field, deployed.id)
        elif endpoint.traffic_split:  # "If this field is empty, … not updated"
            split = dict(endpoint.traffic_split)
        else:  # the first model of an endpoint takes all of its traffic
            split = {deployed.id: 100}
        record = self._models.record(model)
        details = {"deployed_model": deployed.to_json(), "endpoint": name}
        operation = self._serving.start_deployment(
            model,
            max(record.model.node_count, 1),
            node_count_field="deployed_model.automatic_resources.min_replica_count",
            api=api,
            parent=name,
            details=details,
        )
        with self._lock:
            current = self._endpoints[name]
            updated = replace(
                current,
                deployed_models=(*current.deployed_models, deployed),
                traffic_split=split,
                update_time=utcnow(),
            )
            self._save(updated)
        return updated, deployed, operation

    def undeploy(
        self,
        name: str,
        deployed_model_id: str,
        traffic_split: Mapping[str, int],
        *,
        id_field: str,
        traffic_field: str,
        api: str,
    ) -> tuple[Endpoint, Operation | None]:
        """Removes a deployed model; undeploys its model when no endpoint holds it any more
        (the operation; None when the model keeps serving elsewhere)."""
        endpoint = self.get(name)
        gone = next((d for d in endpoint.deployed_models if d.id == deployed_model_id), None)
        if gone is None:
            raise NotFound(
                f"Field: {id_field}; Message: endpoint {name} has no deployed model "
                f"{deployed_model_id!r}; its deployed models: "
                f"{', '.join(d.id for d in endpoint.deployed_models) or 'none'}"
            )
        remaining = tuple(d for d in endpoint.deployed_models if d.id != deployed_model_id)
        ids = {d.id for d in remaining}
        if traffic_split:
            split = _traffic(traffic_split, ids, traffic_field)
        elif endpoint.traffic_split.get(deployed_model_id, 0) and ids:
            raise InvalidArgument(
                f"Field: {traffic_field}; Message: deployed model {deployed_model_id} receives "
                f"{endpoint.traffic_split[deployed_model_id]}% of the traffic; give the new "
                f"split over {', '.join(sorted(ids))}"
            )
        else:
            split = {k: v for k, v in endpoint.traffic_split.items() if k in ids}
        still_held = any(
            d.model == gone.model
            for e in self.holding(gone.model)
            for d in (remaining if e.name == name else e.deployed_models)
        )
        operation = (
            None
            if still_held
            else self._serving.start_undeployment(
                gone.model, api=api, parent=name, details={"endpoint": name}
            )
        )
        with self._lock:
            current = self._endpoints[name]
            updated = replace(
                current, deployed_models=remaining, traffic_split=split, update_time=utcnow()
            )
            self._save(updated)
        return updated, operation
