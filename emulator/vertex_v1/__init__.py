"""gRPC facade of Vertex AI (`google.cloud.aiplatform.v1`): the subset that trains Edge models.

Served so that the unmodified `google-cloud-aiplatform` GAPIC clients work over an insecure
channel, e.g. `DatasetServiceClient(transport=DatasetServiceGrpcTransport(channel=...))`. One
module per service, as aiplatform_v1 names them:
    dataset_service.py   DatasetService: CreateDataset, GetDataset, ListDatasets,
                         DeleteDataset, ImportData
    pipeline_service.py  PipelineService: CreateTrainingPipeline, GetTrainingPipeline,
                         ListTrainingPipelines, CancelTrainingPipeline, DeleteTrainingPipeline
    model_service.py     ModelService: GetModel, ListModels, ListModelVersions, DeleteModel,
                         ListModelEvaluations, GetModelEvaluation,
                         ListModelEvaluationSlices, GetModelEvaluationSlice, ExportModel
    endpoint_service.py  EndpointService: CreateEndpoint, GetEndpoint, ListEndpoints,
                         DeleteEndpoint, DeployModel, UndeployModel (CLOUD models)
    prediction_service.py PredictionService: Predict (image classification)
and what they share:
    service.py           VertexService: Vertex AI's view of the core's names and lookups
    resources.py         core → wire: Dataset, Model, ModelEvaluation(Slice), TrainingPipeline
    values.py            Vertex JSON in google.protobuf.Value (the classification metrics)
    schemas.py           the aiplatform schema URIs and training task messages served
    operations.py        its operations as google.longrunning shows them
    imports.py           its CSV and JSON Lines import files
    splits.py            FractionSplit / FilterSplit
    filters.py           list filters and order_by
Long-running operations are served by the shared google.longrunning.Operations service
(emulator/longrunning.py).

Translation only, over the same core as the AutoML v1 facade (one training engine, two wire
protocols). What differs from Vertex AI, method by method: emulator/FIDELITY.md.
"""

from emulator.host import ServiceHost
from emulator.vertex_v1 import (
    dataset_service,
    endpoint_service,
    model_service,
    operations,
    pipeline_service,
    prediction_service,
)


def register(host: ServiceHost) -> None:
    """Adds Vertex AI's Dataset, Pipeline, Model, Endpoint and Prediction services (and
    operation rendering)."""
    backend = host.backend
    host.add_unary_service(
        dataset_service.SERVICE, dataset_service.DatasetService(backend).methods()
    )
    host.add_unary_service(
        pipeline_service.SERVICE, pipeline_service.PipelineService(backend).methods()
    )
    host.add_unary_service(model_service.SERVICE, model_service.ModelService(backend).methods())
    host.add_unary_service(
        endpoint_service.SERVICE, endpoint_service.EndpointService(backend).methods()
    )
    host.add_unary_service(
        prediction_service.SERVICE, prediction_service.PredictionService(backend).methods()
    )
    host.add_operation_renderer(operations.API, operations.render_operation)
