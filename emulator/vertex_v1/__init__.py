"""Vertex AI (`google.cloud.aiplatform.v1`): the Dataset, Pipeline and Model services."""

from emulator.vertex_v1.resources import register as register
