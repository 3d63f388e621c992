"""gRPC facade of Vertex AI's `ModelService`: GetModel, ListModels, ListModelVersions,
DeleteModel, ListModelEvaluations, GetModelEvaluation, ListModelEvaluationSlices,
GetModelEvaluationSlice, ExportModel.

A Model's overall ModelEvaluation is the core's overall evaluation, and its
ModelEvaluationSlices (dimension `annotationSpec`) are the core's per-label evaluations,
rendered in the classification metrics schema (emulator/vertex_v1/values.py). ExportModel
writes `<prefix>/model-<MODEL_ID>/<format>/<timestamp>/` as "Export AutoML Edge models"
documents it (emulator/FIDELITY.md).
"""

from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2
from google.protobuf.message import Message

from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.errors import FailedPrecondition, InvalidArgument, NotFound
from emulator.core.models.exports import ExportFields
from emulator.core.models.records import Model, ModelEvaluation
from emulator.core.names import parse_location
from emulator.core.paging import paginate
from emulator.vertex_v1.filters import Fields, parse_filter, parse_order_by
from emulator.vertex_v1.operations import API, render_operation
from emulator.vertex_v1.resources import (
    EXPORT_FORMATS,
    ID_PREFIX,
    UNEMULATED_EXPORT_FORMATS,
    evaluation_pb,
    export_file_name,
    id_of,
    model_pb,
    slice_pb,
)
from emulator.vertex_v1.schemas import METRICS_SCHEMA, SLICE_DIMENSION
from emulator.vertex_v1.service import VertexService

SERVICE = "google.cloud.aiplatform.v1.ModelService"
EXPORT_FIELDS = ExportFields(
    model_format="output_config.export_format_id",
    output_uri_prefix="output_config.artifact_destination.output_uri_prefix",
)

MODEL_FIELDS: Fields[Model] = Fields(
    values={"model": lambda m: m.id, "display_name": lambda m: m.display_name},
    labels=lambda m: m.labels,
)
# ListModels' order_by fields (ListModelVersions: the times only).
MODEL_ORDER = {
    "display_name": lambda m: m.display_name,
    "create_time": lambda m: m.create_time,
    "update_time": lambda m: m.update_time,
}
VERSION_ORDER = {k: v for k, v in MODEL_ORDER.items() if k != "display_name"}
# "The standard list filter": the fields a model's one evaluation has (it has no labels).
EVALUATION_FIELDS: Fields[ModelEvaluation] = Fields(
    values={"metrics_schema_uri": lambda e: METRICS_SCHEMA}, labels=lambda e: {}
)
SLICE_FIELDS: Fields[ModelEvaluation] = Fields(
    values={"slice.dimension": lambda e: SLICE_DIMENSION}, labels=lambda e: {}
)


class ModelService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "GetModel": (types.GetModelRequest, self.get_model),
            "ListModels": (types.ListModelsRequest, self.list_models),
            "ListModelVersions": (types.ListModelVersionsRequest, self.list_model_versions),
            "DeleteModel": (types.DeleteModelRequest, self.delete_model),
            "ListModelEvaluations": (
                types.ListModelEvaluationsRequest,
                self.list_model_evaluations,
            ),
            "GetModelEvaluation": (types.GetModelEvaluationRequest, self.get_model_evaluation),
            "ListModelEvaluationSlices": (
                types.ListModelEvaluationSlicesRequest,
                self.list_model_evaluation_slices,
            ),
            "GetModelEvaluationSlice": (
                types.GetModelEvaluationSliceRequest,
                self.get_model_evaluation_slice,
            ),
            "ExportModel": (types.ExportModelRequest, self.export_model),
        }

    def _model_pb(self, model: Model) -> types.Model:
        pipeline = self.backend.pipelines.for_model(model.name)
        return model_pb(model, pipeline.name if pipeline else "")

    def get_model(self, request: types.GetModelRequest) -> types.Model:
        return self._model_pb(self._model(request.name))

    def list_models(self, request: types.ListModelsRequest) -> types.ListModelsResponse:
        location = parse_location(request.parent)
        order = parse_order_by(request.order_by, MODEL_ORDER)
        matches = parse_filter(request.filter, MODEL_FIELDS)
        models = order(
            [m for m in self.backend.models.list_models(location) if m.id.isdigit() and matches(m)]
        )
        page, token = paginate(models, request.page_size, request.page_token)
        return types.ListModelsResponse(
            models=[self._model_pb(m) for m in page], next_page_token=token
        )

    def list_model_versions(
        self, request: types.ListModelVersionsRequest
    ) -> types.ListModelVersionsResponse:
        """The model's one version (each trained model is version 1 of its own model)."""
        model = self._model(request.name, versioned=False)
        order = parse_order_by(request.order_by, VERSION_ORDER)
        matches = parse_filter(request.filter, Fields(values={}, labels=MODEL_FIELDS.labels))
        page, token = paginate(
            order([model] if matches(model) else []), request.page_size, request.page_token
        )
        return types.ListModelVersionsResponse(
            models=[self._model_pb(m) for m in page], next_page_token=token
        )

    def delete_model(self, request: types.DeleteModelRequest) -> operations_pb2.Operation:
        # The reference names the model without a version (DeleteModelVersion takes one).
        self._model(request.name, versioned=False)
        holding = self.backend.endpoints.holding(request.name)
        if holding:
            raise FailedPrecondition(
                f"Model {request.name} is deployed to {', '.join(e.name for e in holding)}; "
                "undeploy it (UndeployModel) before deleting it"
            )
        self.backend.models.delete(request.name)
        return self._record(request.name, "delete_model", request.name)

    def _evaluations(self, model: str) -> tuple[ModelEvaluation, list[ModelEvaluation]]:
        """The overall evaluation and the per-label ones of `model` (unversioned name)."""
        found = self.backend.models.list_evaluations(model)
        overall = next(e for e in found if not e.annotation_spec_id)
        return overall, [e for e in found if e.annotation_spec_id]

    def _evaluation_name(self, name: str, field: str) -> tuple[str, str]:
        """`{model}[@version]/evaluations/{id}` → (model without version, id)."""
        model, sep, evaluation_id = name.rpartition("/evaluations/")
        if not sep or not evaluation_id.isdigit():
            raise InvalidArgument(
                f"Field: {field}; Message: {name!r} is not a valid ModelEvaluation name; "
                "expected projects/{project}/locations/{location}/models/{model}/evaluations/"
                "{evaluation}"
            )
        return self._model(model, field).name, evaluation_id

    def list_model_evaluations(
        self, request: types.ListModelEvaluationsRequest
    ) -> types.ListModelEvaluationsResponse:
        matches = parse_filter(request.filter, EVALUATION_FIELDS)
        model = self._model(request.parent, "parent").name
        overall, _ = self._evaluations(model)
        page, token = paginate(
            [overall] if matches(overall) else [], request.page_size, request.page_token
        )
        response = types.ListModelEvaluationsResponse.pb(
            types.ListModelEvaluationsResponse(next_page_token=token)
        )
        response.model_evaluations.extend(evaluation_pb(model, e) for e in page)
        return response

    def get_model_evaluation(self, request: types.GetModelEvaluationRequest) -> Message:
        model, evaluation_id = self._evaluation_name(request.name, "name")
        overall, _ = self._evaluations(model)
        if id_of(overall) != evaluation_id:
            raise NotFound(f"ModelEvaluation {request.name} does not exist.")
        return evaluation_pb(model, overall)

    def list_model_evaluation_slices(
        self, request: types.ListModelEvaluationSlicesRequest
    ) -> types.ListModelEvaluationSlicesResponse:
        model, evaluation_id = self._evaluation_name(request.parent, "parent")
        overall, per_label = self._evaluations(model)
        if id_of(overall) != evaluation_id:
            raise NotFound(f"ModelEvaluation {request.parent} does not exist.")
        matches = parse_filter(request.filter, SLICE_FIELDS)
        page, token = paginate(
            [e for e in per_label if matches(e)], request.page_size, request.page_token
        )
        response = types.ListModelEvaluationSlicesResponse.pb(
            types.ListModelEvaluationSlicesResponse(next_page_token=token)
        )
        evaluation = f"{model}/evaluations/{evaluation_id}"
        response.model_evaluation_slices.extend(slice_pb(evaluation, e) for e in page)
        return response

    def get_model_evaluation_slice(self, request: types.GetModelEvaluationSliceRequest) -> Message:
        evaluation, sep, slice_id = request.name.rpartition("/slices/")
        if not sep:
            raise InvalidArgument(
                f"Field: name; Message: {request.name!r} is not a valid ModelEvaluationSlice "
                "name; expected …/models/{model}/evaluations/{evaluation}/slices/{slice}"
            )
        model, evaluation_id = self._evaluation_name(evaluation, "name")
        overall, per_label = self._evaluations(model)
        if id_of(overall) == evaluation_id:
            for e in per_label:
                if id_of(e) == slice_id:
                    return slice_pb(f"{model}/evaluations/{evaluation_id}", e)
        raise NotFound(f"ModelEvaluationSlice {request.name} does not exist.")

    def export_model(self, request: types.ExportModelRequest) -> operations_pb2.Operation:
        model = self._model(request.name)
        config = request.output_config
        fmt = config.export_format_id or next(iter(EXPORT_FORMATS))  # the first supported
        where = "Field: output_config"
        if model.model_type not in MOBILE_MODEL_TYPES:
            raise FailedPrecondition(
                f"Model {request.name} has no supported export formats (it was trained as a "
                "CLOUD model); train a MOBILE_TF_* model type to export it"
            )
        if fmt in UNEMULATED_EXPORT_FORMATS:
            raise FailedPrecondition(
                f"{where}.export_format_id; Message: {fmt} exports cannot be made by the "
                f"emulator (it has no {fmt} converter); it exports {', '.join(EXPORT_FORMATS)}"
            )
        if fmt not in EXPORT_FORMATS:
            listed = ", ".join((*EXPORT_FORMATS, *UNEMULATED_EXPORT_FORMATS))
            raise InvalidArgument(
                f"{where}.export_format_id; Message: {fmt!r} is not a supported export format "
                f"of {request.name}; supported: {listed}"
            )
        if config.image_destination.output_uri:
            raise InvalidArgument(
                f"{where}.image_destination; Message: {fmt} exports an ARTIFACT, not an IMAGE: "
                "use artifact_destination"
            )
        op = self.backend.model_exports.start_export(
            model.name,
            EXPORT_FORMATS[fmt],
            config.artifact_destination.output_uri_prefix,
            # "gs://OUTPUT_BUCKET/model-MODEL_ID/EXPORT_FORMAT/YYYY-MM-DDThh:mm:ss.sssZ"
            folder=lambda m, _fmt, stamp: f"model-{m.id}/{fmt}/{stamp}",
            files=export_file_name,
            fields=EXPORT_FIELDS,
            api=API,
            id_prefix=ID_PREFIX,
            parent=model.name,  # Vertex AI names the operation under the model
        )
        return render_operation(op)
