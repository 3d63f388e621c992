"""gRPC facade of Vertex AI's `EndpointService`: CreateEndpoint, GetEndpoint, ListEndpoints,
DeleteEndpoint, DeployModel, UndeployModel.

Endpoints serve CLOUD models (AutoML image classification trained without a MOBILE_TF_* model
type); Edge models are exported instead ("You cannot use an Edge model in Vertex AI to serve
predictions"). Deployment is the core's (emulator/core/endpoints.py, models/serving.py): the
model's TF Lite predictor, whatever the requested resources. Operations are named under the
endpoint (`{endpoint}/operations/{id}`).
"""

import re
from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2

from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.endpoints import Endpoint
from emulator.core.errors import FailedPrecondition, InvalidArgument
from emulator.core.names import parse_location
from emulator.core.paging import paginate
from emulator.vertex_v1.filters import Fields, parse_filter, parse_order_by
from emulator.vertex_v1.operations import API, render_operation
from emulator.vertex_v1.resources import endpoint_pb
from emulator.vertex_v1.service import VertexService, split_version, validate_display_name

SERVICE = "google.cloud.aiplatform.v1.EndpointService"
ENDPOINT_FIELDS: Fields[Endpoint] = Fields(
    values={"endpoint": lambda e: e.id, "display_name": lambda e: e.display_name},
    labels=lambda e: e.labels,
)
ENDPOINT_ORDER = {
    "display_name": lambda e: e.display_name,
    "create_time": lambda e: e.create_time,
    "update_time": lambda e: e.update_time,
}
# The emulator's endpoints have numeric ids, as those Vertex AI makes (a user-chosen id that
# starts with a letter is not emulated).
_ENDPOINT_ID = re.compile(r"[1-9][0-9]{0,18}")


class EndpointService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "CreateEndpoint": (types.CreateEndpointRequest, self.create_endpoint),
            "GetEndpoint": (types.GetEndpointRequest, self.get_endpoint),
            "ListEndpoints": (types.ListEndpointsRequest, self.list_endpoints),
            "DeleteEndpoint": (types.DeleteEndpointRequest, self.delete_endpoint),
            "DeployModel": (types.DeployModelRequest, self.deploy_model),
            "UndeployModel": (types.UndeployModelRequest, self.undeploy_model),
        }

    def create_endpoint(self, request: types.CreateEndpointRequest) -> operations_pb2.Operation:
        location = parse_location(request.parent)
        endpoint = request.endpoint
        validate_display_name(endpoint.display_name, "endpoint.display_name")
        if request.endpoint_id and not _ENDPOINT_ID.fullmatch(request.endpoint_id):
            raise InvalidArgument(
                f"Field: endpoint_id; Message: {request.endpoint_id!r}: the emulator takes "
                "numeric endpoint ids (1-19 digits, not starting with 0), or none"
            )
        if endpoint.deployed_models or endpoint.traffic_split:
            raise InvalidArgument(
                "Field: endpoint.deployed_models; Message: output only; deploy models with "
                "DeployModel once the endpoint exists"
            )
        created = self.backend.endpoints.create(
            location,
            endpoint.display_name,
            endpoint.description,
            dict(endpoint.labels),
            request.endpoint_id,
        )
        return self._record(created.name, "create_endpoint", created.name, created.to_json())

    def _endpoint(self, name: str) -> Endpoint:
        self._name(name, "endpoints", "Endpoint")
        return self.backend.endpoints.get(name)

    def get_endpoint(self, request: types.GetEndpointRequest) -> types.Endpoint:
        return endpoint_pb(self._endpoint(request.name))

    def list_endpoints(self, request: types.ListEndpointsRequest) -> types.ListEndpointsResponse:
        location = parse_location(request.parent)
        order = parse_order_by(request.order_by, ENDPOINT_ORDER)
        matches = parse_filter(request.filter, ENDPOINT_FIELDS)
        found = order([e for e in self.backend.endpoints.list_endpoints(location) if matches(e)])
        page, token = paginate(found, request.page_size, request.page_token)
        return types.ListEndpointsResponse(
            endpoints=[endpoint_pb(e) for e in page], next_page_token=token
        )

    def delete_endpoint(self, request: types.DeleteEndpointRequest) -> operations_pb2.Operation:
        self._endpoint(request.name)
        self.backend.endpoints.delete(request.name)
        return self._record(request.name, "delete_endpoint", request.name)

    def deploy_model(self, request: types.DeployModelRequest) -> operations_pb2.Operation:
        endpoint = self._endpoint(request.endpoint)
        deployed = request.deployed_model
        if not deployed.model:
            raise InvalidArgument(
                "Field: deployed_model.model; Message: required; the Model to deploy "
                "(projects/…/models/{model}, optionally @version)"
            )
        model = self._model(deployed.model, "deployed_model.model")
        if model.model_type in MOBILE_MODEL_TYPES:
            raise FailedPrecondition(
                f"Model {deployed.model} is an Edge model ({model.model_type}), which cannot "
                "serve predictions in Vertex AI; export it (ExportModel), or train a CLOUD "
                "model to deploy"
            )
        display_name = deployed.display_name or model.display_name
        validate_display_name(display_name, "deployed_model.display_name")
        _, _, operation = self.backend.endpoints.deploy(
            endpoint.name,
            split_version(deployed.model)[0],
            display_name,
            dict(request.traffic_split),
            traffic_field="traffic_split",
            api=API,
        )
        return render_operation(operation)

    def undeploy_model(self, request: types.UndeployModelRequest) -> operations_pb2.Operation:
        endpoint = self._endpoint(request.endpoint)
        if not request.deployed_model_id:
            raise InvalidArgument(
                "Field: deployed_model_id; Message: required; the id of one of the endpoint's "
                "deployed models"
            )
        _, operation = self.backend.endpoints.undeploy(
            endpoint.name,
            request.deployed_model_id,
            dict(request.traffic_split),
            id_field="deployed_model_id",
            traffic_field="traffic_split",
            api=API,
        )
        if operation is None:  # the model keeps serving on another endpoint
            return self._record(endpoint.name, "undeploy_model", endpoint.name)
        return render_operation(operation)
