"""gRPC facade of Vertex AI's `ModelService`: GetModel, ListModels, DeleteModel,
ListModelEvaluations, GetModelEvaluation, ListModelEvaluationSlices, GetModelEvaluationSlice,
ExportModel.

A Model's overall ModelEvaluation is the core's overall evaluation, and its
ModelEvaluationSlices (dimension `annotationSpec`) are the core's per-label evaluations,
rendered in the classification metrics schema (emulator/vertex_v1/values.py). ExportModel
writes `<prefix>/model-export-<display name>-<timestamp>/` as the API documents.
"""

from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.longrunning import operations_pb2
from google.protobuf.message import Message

from emulator.core.architectures import MOBILE_MODEL_TYPES
from emulator.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from emulator.core.models.exports import ExportFields
from emulator.core.models.records import Model, ModelEvaluation
from emulator.core.names import parse_location, parse_resource
from emulator.core.paging import paginate
from emulator.vertex_v1.filters import Fields, not_emulated_order, parse_filter
from emulator.vertex_v1.operations import API, render_operation
from emulator.vertex_v1.resources import (
    EXPORT_FORMATS,
    ID_PREFIX,
    UNEMULATED_EXPORT_FORMATS,
    evaluation_pb,
    id_of,
    model_pb,
    slice_pb,
)
from emulator.vertex_v1.schemas import SLICE_DIMENSION
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
SLICE_FIELDS: Fields[ModelEvaluation] = Fields(
    values={"slice.dimension": lambda e: SLICE_DIMENSION}, labels=lambda e: {}
)


class ModelService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "GetModel": (types.GetModelRequest, self.get_model),
            "ListModels": (types.ListModelsRequest, self.list_models),
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
        not_emulated_order(request.order_by)
        matches = parse_filter(request.filter, MODEL_FIELDS)
        models = [
            m for m in self.backend.models.list_models(location) if m.id.isdigit() and matches(m)
        ]
        page, token = paginate(models, request.page_size, request.page_token)
        return types.ListModelsResponse(
            models=[self._model_pb(m) for m in page], next_page_token=token
        )

    def delete_model(self, request: types.DeleteModelRequest) -> operations_pb2.Operation:
        self._model(request.name)
        self.backend.models.delete(request.name)
        parent = str(parse_resource(request.name, "models", "Model").parent)
        return self._record(parent, "delete_model", request.name)

    def _evaluations(self, model: str) -> tuple[ModelEvaluation, list[ModelEvaluation]]:
        """The model's overall evaluation and its per-label ones."""
        self._model(model, "parent")
        found = self.backend.models.list_evaluations(model)
        overall = next(e for e in found if not e.annotation_spec_id)
        return overall, [e for e in found if e.annotation_spec_id]

    def _evaluation_name(self, name: str, field: str) -> tuple[str, str]:
        """`{model}/evaluations/{id}` → (model, id)."""
        model, sep, evaluation_id = name.rpartition("/evaluations/")
        if not sep or not evaluation_id.isdigit():
            raise InvalidArgument(
                f"Field: {field}; Message: {name!r} is not a valid ModelEvaluation name; "
                "expected projects/{project}/locations/{location}/models/{model}/evaluations/"
                "{evaluation}"
            )
        self._model(model, field)
        return model, evaluation_id

    def list_model_evaluations(
        self, request: types.ListModelEvaluationsRequest
    ) -> types.ListModelEvaluationsResponse:
        if request.filter.strip():
            raise Unimplemented(
                "Field: filter; Message: not emulated; a model has one evaluation (its "
                "per-label metrics are ModelEvaluationSlices)"
            )
        overall, _ = self._evaluations(request.parent)
        page, token = paginate([overall], request.page_size, request.page_token)
        response = types.ListModelEvaluationsResponse.pb(
            types.ListModelEvaluationsResponse(next_page_token=token)
        )
        response.model_evaluations.extend(evaluation_pb(request.parent, e) for e in page)
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
        response.model_evaluation_slices.extend(slice_pb(request.parent, e) for e in page)
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
                    return slice_pb(evaluation, e)
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
            raise Unimplemented(
                f"{where}.export_format_id; Message: {fmt} exports are not emulated; the "
                f"emulator exports {', '.join(EXPORT_FORMATS)}"
            )
        if fmt not in EXPORT_FORMATS:
            raise InvalidArgument(
                f"{where}.export_format_id; Message: {fmt!r} is not a supported export format "
                f"of {request.name}; supported: {', '.join(EXPORT_FORMATS)}"
            )
        if config.image_destination.output_uri:
            raise InvalidArgument(
                f"{where}.image_destination; Message: {fmt} exports an ARTIFACT, not an IMAGE: "
                "use artifact_destination"
            )
        op = self.backend.model_exports.start_export(
            request.name,
            EXPORT_FORMATS[fmt],
            config.artifact_destination.output_uri_prefix,
            folder=lambda m, _fmt, stamp: f"model-export-{m.display_name}-{stamp}",
            fields=EXPORT_FIELDS,
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)
