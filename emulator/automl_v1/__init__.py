"""The AutoML v1 API (`google.cloud.automl.v1`): the AutoMl service and the PredictionService."""

from emulator.automl_v1.auto_ml import register as register
