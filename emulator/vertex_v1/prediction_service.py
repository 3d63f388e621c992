"""gRPC facade of Vertex AI's `PredictionService`: Predict, for image classification.

Instances and parameters in the AutoML image classification schemas (`aiplatform.v1.schema.
predict`): an instance `{"content": <base64 image>, "mimeType": …}`, parameters
`{"confidenceThreshold": 0.0–1.0 (default 0.0), "maxPredictions": n (default 10)}`, and per
instance a prediction `{"ids": [...], "displayNames": [...], "confidences": [...]}`, highest
first. The endpoint's deployed model with the largest traffic share answers (emulator/core/
endpoints.py).
"""

import base64
import binascii
from collections.abc import Callable
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.protobuf import json_format, struct_pb2

from emulator.core.errors import InvalidArgument
from emulator.core.models.serving import PredictionFields
from emulator.vertex_v1.resources import VERSION_ID
from emulator.vertex_v1.service import VertexService

SERVICE = "google.cloud.aiplatform.v1.PredictionService"
DEFAULT_MAX_PREDICTIONS = 10
_PARAMETERS = ("confidenceThreshold", "maxPredictions")


def _parameters(parameters: Any) -> tuple[float, int]:
    values = json_format.MessageToDict(parameters) if parameters.WhichOneof("kind") else {}
    if not isinstance(values, dict):
        raise InvalidArgument(
            "Field: parameters; Message: an object with confidenceThreshold and maxPredictions"
        )
    unknown = sorted(set(values) - set(_PARAMETERS))
    if unknown:
        raise InvalidArgument(
            f"Field: parameters; Message: {', '.join(unknown)} not supported for image "
            f"classification; allowed: {', '.join(_PARAMETERS)}"
        )
    threshold = values.get("confidenceThreshold", 0.0)
    count = values.get("maxPredictions", DEFAULT_MAX_PREDICTIONS)
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise InvalidArgument(
            f"Field: parameters.confidenceThreshold; Message: {threshold!r}; allowed: 0.0–1.0"
        )
    if not isinstance(count, int | float) or count != int(count) or count < 1:
        raise InvalidArgument(
            f"Field: parameters.maxPredictions; Message: {count!r}; allowed: a whole number ≥ 1"
        )
    return float(threshold), int(count)


def _image(instance: struct_pb2.Value, index: int) -> bytes:
    where = f"Field: instances[{index}]"
    values = json_format.MessageToDict(instance)
    if not isinstance(values, dict) or not isinstance(values.get("content"), str):
        raise InvalidArgument(
            f'{where}; Message: an object {{"content": <base64 image>, "mimeType": …}} '
            "(ImageClassificationPredictionInstance)"
        )
    try:
        return base64.b64decode(values["content"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            f"{where}.content; Message: not base64; the emulator takes the image's bytes, "
            "base64-encoded (a Cloud Storage URI is not emulated)"
        ) from None


class PredictionService(VertexService):
    """One method per RPC: request message in, response message out, ServiceError on failure."""

    def methods(self) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
        return {"Predict": (types.PredictRequest, self.predict)}

    def predict(self, request: types.PredictRequest) -> types.PredictResponse:
        message = types.PredictRequest.pb(request)
        self._name(request.endpoint, "endpoints", "Endpoint", "endpoint")
        endpoint = self.backend.endpoints.get(request.endpoint)
        deployed = endpoint.serving()
        threshold, count = _parameters(message.parameters)
        if not message.instances:
            raise InvalidArgument("Field: instances; Message: required; at least one image")
        predictions = []
        for index, instance in enumerate(message.instances):
            fields = PredictionFields(
                image=f"instances[{index}].content",
                score_threshold="parameters.confidenceThreshold",
                input_uris="",
                output_uri_prefix="",
            )
            found = self.backend.serving.predict(
                deployed.model, _image(instance, index), threshold, fields=fields
            )[:count]
            value = struct_pb2.Value()
            json_format.ParseDict(
                {
                    "ids": [p.annotation_spec_id for p in found],
                    "displayNames": [p.display_name for p in found],
                    "confidences": [p.score for p in found],
                },
                value,
            )
            predictions.append(value)
        response = types.PredictResponse(
            deployed_model_id=deployed.id,
            model=deployed.model,
            model_version_id=VERSION_ID,
            model_display_name=self._model(deployed.model).display_name,
        )
        types.PredictResponse.pb(response).predictions.extend(predictions)
        return response
