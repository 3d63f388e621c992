"""gRPC facade of `google.cloud.automl.v1.PredictionService`: Predict and BatchPredict.

Served so that the unmodified client works over an insecure channel:
    PredictionServiceClient(transport=PredictionServiceGrpcTransport(channel=...))
Answers come from the model's TF Lite file (emulator/core/models/serving.py); batch prediction
operations are rendered as the AutoMl service's are (emulator/automl_v1/operations.py).
"""

from collections.abc import Callable, Mapping
from typing import Any

from google.cloud.automl_v1 import types
from google.longrunning import operations_pb2

from emulator.automl_v1.operations import API, render_operation
from emulator.automl_v1.resources import ID_PREFIX
from emulator.core.backend import Backend
from emulator.core.errors import InvalidArgument
from emulator.core.models.serving import PredictionFields

SERVICE = "google.cloud.automl.v1.PredictionService"
# PredictRequest.params / BatchPredictRequest.params for image classification.
PARAMS = ("score_threshold",)
# Where Predict / BatchPredict requests hold what the core checks (its messages name them).
FIELDS = PredictionFields(
    image="payload.image.image_bytes",
    score_threshold="params.score_threshold",
    input_uris="input_config.gcs_source.input_uris",
    output_uri_prefix="output_config.gcs_destination.output_uri_prefix",
)


def _score_threshold(params: Mapping[str, str]) -> float | None:
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidArgument(
            f"Field: params; Message: {', '.join(unknown)} not supported for image "
            f"classification; allowed: {', '.join(PARAMS)}"
        )
    if "score_threshold" not in params:
        return None
    text = params["score_threshold"]
    try:
        return float(text)
    except ValueError:
        raise InvalidArgument(
            f"Field: params.score_threshold; Message: {text!r} is not a number; allowed: 0.0–1.0"
        ) from None


class PredictionFacade:
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {
            "Predict": (types.PredictRequest, self.predict),
            "BatchPredict": (types.BatchPredictRequest, self.batch_predict),
        }

    def predict(self, request: types.PredictRequest) -> types.PredictResponse:
        which = types.ExamplePayload.pb(request.payload).WhichOneof("payload")
        if which not in (None, "image"):
            raise InvalidArgument(
                f"Field: payload.{which}; Message: an image classification model takes "
                "payload.image.image_bytes"
            )
        predictions = self.backend.serving.predict(
            request.name,
            request.payload.image.image_bytes,
            _score_threshold(request.params),
            fields=FIELDS,
        )
        return types.PredictResponse(
            payload=[
                types.AnnotationPayload(
                    annotation_spec_id=p.annotation_spec_id,
                    display_name=p.display_name,
                    classification=types.ClassificationAnnotation(score=p.score),
                )
                for p in predictions
            ]
        )

    def batch_predict(self, request: types.BatchPredictRequest) -> operations_pb2.Operation:
        op = self.backend.serving.start_batch_prediction(
            request.name,
            list(request.input_config.gcs_source.input_uris),
            request.output_config.gcs_destination.output_uri_prefix,
            _score_threshold(request.params),
            fields=FIELDS,
            api=API,
            id_prefix=ID_PREFIX,
        )
        return render_operation(op)
