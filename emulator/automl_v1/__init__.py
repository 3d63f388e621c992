"""The AutoML v1 API (`google.cloud.automl.v1`), served over gRPC for the unmodified client.

auto_ml.py             the AutoMl service: datasets, import/export, models, evaluations,
                       deployment, model export
prediction_service.py  the PredictionService: Predict, BatchPredict
resources.py           core → wire: Dataset, Model, ModelEvaluation messages
operations.py          its operations as google.longrunning shows them (metadata, responses)
operation_details.py   emulator-only: `GET /emulator/v1/{operation}/details` (a training's
                       epochs, losses; a long poll for tests)
"""

from emulator.automl_v1 import auto_ml, operation_details, operations, prediction_service
from emulator.host import ServiceHost


def register(host: ServiceHost) -> None:
    """Adds the AutoML v1 API (AutoMl, PredictionService, operation rendering) to the emulator."""
    host.add_unary_service(auto_ml.SERVICE, auto_ml.AutoMlFacade(host.backend).methods())
    host.add_unary_service(
        prediction_service.SERVICE, prediction_service.PredictionFacade(host.backend).methods()
    )
    host.add_operation_renderer(operations.API, operations.render_operation)
    operation_details.register(host)
