"""Vertex AI's JSON in google.protobuf.Value fields: the classification metrics schema.

Metrics as the service prints them: floats at float32 precision, int64 counts as strings,
zero values left out (proto3 JSON).
"""

from typing import Any

import numpy as np
from google.protobuf import json_format, struct_pb2

from emulator.core.evaluator import ClassificationEvaluationMetrics, ConfidenceMetricsEntry


def float32(value: float) -> float:
    """The service computes metrics in float32 and prints each as its shortest decimal."""
    return float(str(np.float32(value)))


def _entry(entry: ConfidenceMetricsEntry) -> dict[str, Any]:
    fields = {
        "confidenceThreshold": float32(entry.confidence_threshold),
        "maxPredictions": entry.position_threshold,
        "recall": float32(entry.recall),
        "precision": float32(entry.precision),
        "falsePositiveRate": float32(entry.false_positive_rate),
        "f1Score": float32(entry.f1_score),
        "recallAt1": float32(entry.recall_at1),
        "precisionAt1": float32(entry.precision_at1),
        "falsePositiveRateAt1": float32(entry.false_positive_rate_at1),
        "f1ScoreAt1": float32(entry.f1_score_at1),
        # int64 fields: strings in JSON.
        "truePositiveCount": str(entry.true_positive_count),
        "falsePositiveCount": str(entry.false_positive_count),
        "falseNegativeCount": str(entry.false_negative_count),
        "trueNegativeCount": str(entry.true_negative_count),
    }
    return {key: value for key, value in fields.items() if value not in (0, 0.0, "0")}


def metrics_json(metrics: ClassificationEvaluationMetrics) -> dict[str, Any]:
    """The classification metrics schema's Struct (proto3 JSON: zero values left out)."""
    document: dict[str, Any] = {
        key: value
        for key, value in (
            ("auPrc", float32(metrics.au_prc)),
            ("auRoc", float32(metrics.au_roc)),
            ("logLoss", float32(metrics.log_loss)),
        )
        if value
    }
    document["confidenceMetrics"] = [_entry(e) for e in metrics.confidence_metrics_entry]
    matrix = metrics.confusion_matrix
    if matrix is not None:
        document["confusionMatrix"] = {
            "annotationSpecs": [
                {"id": spec_id, "displayName": name}
                for spec_id, name in zip(
                    matrix.annotation_spec_id, matrix.display_name, strict=True
                )
            ],
            "rows": [list(row) for row in matrix.row],
        }
    return document


def to_value(document: Any) -> struct_pb2.Value:
    """A JSON document as google.protobuf.Value."""
    return json_format.ParseDict(document, struct_pb2.Value())
