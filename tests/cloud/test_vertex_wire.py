"""The Vertex AI adapter writes and reads the AutoML image classification definition as the
high-level SDK does, without importing it (components/cloud/vertex.py says why).

The SDK (`google.cloud.aiplatform`) is imported here, in the test only: its schema URIs and its
`AutoMlImageClassificationInputs` / `…Metadata` messages are what the adapter's constants and
Struct documents must equal.
"""

import pytest
from google.cloud.aiplatform import schema
from google.cloud.aiplatform.v1.schema.trainingjob import definition_v1
from google.protobuf import json_format, struct_pb2

from components.cloud import vertex
from components.spec import OptimizeFor

Inputs = definition_v1.AutoMlImageClassificationInputs
Metadata = definition_v1.AutoMlImageClassificationMetadata
MODEL_TYPES = [o.automl_model_type for o in OptimizeFor]


def test_the_schema_uris_are_the_sdks():
    assert schema.dataset.metadata.image == vertex.IMAGE_DATASET_SCHEMA
    assert {
        False: schema.dataset.ioformat.image.single_label_classification,
        True: schema.dataset.ioformat.image.multi_label_classification,
    } == vertex.IMPORT_SCHEMAS
    assert schema.training_job.definition.automl_image_classification == vertex.TRAINING_DEFINITION


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("base_model", [None, "projects/p/locations/us-central1/models/123"])
def test_the_training_inputs_are_the_sdk_messages_json(model_type, multilabel, base_model):
    message = Inputs(
        model_type=Inputs.ModelType[vertex.vertex_model_type(model_type)],
        budget_milli_node_hours=8_000,
        multi_label=multilabel,
        disable_early_stopping=False,
        base_model_id="123" if base_model else "",
    )
    assert vertex.training_task_inputs(
        model_type, 8_000, multilabel, base_model
    ) == json_format.MessageToDict(Inputs.pb(message), always_print_fields_with_no_presence=True)


def _value(document: dict) -> struct_pb2.Value:
    value = struct_pb2.Value()
    json_format.ParseDict(document, value)
    return value


@pytest.mark.parametrize(
    "inputs, metadata",
    [
        (
            Inputs(model_type=Inputs.ModelType.MOBILE_TF_VERSATILE_1, budget_milli_node_hours=1),
            Metadata(
                cost_milli_node_hours=2**40,
                successful_stop_reason=Metadata.SuccessfulStopReason.MODEL_CONVERGED,
            ),
        ),
        (
            Inputs(model_type=Inputs.ModelType.CLOUD, budget_milli_node_hours=2**60 + 1),
            Metadata(successful_stop_reason=Metadata.SuccessfulStopReason.BUDGET_REACHED),
        ),
        (Inputs(), Metadata()),
    ],
)
def test_a_pipelines_inputs_and_metadata_read_as_the_sdk_reads_them(inputs, metadata):
    """The Structs the SDK's messages print (int64 as strings, enums by name), read back."""
    read_inputs = vertex._struct_fields(
        _value(
            json_format.MessageToDict(Inputs.pb(inputs), always_print_fields_with_no_presence=True)
        )
    )
    read_metadata = vertex._struct_fields(_value(json_format.MessageToDict(Metadata.pb(metadata))))
    model_type = Inputs.ModelType(inputs.model_type)
    assert vertex._automl_model_type(vertex._enum_name(read_inputs.get("modelType"))) == (
        ""
        if model_type == Inputs.ModelType.MODEL_TYPE_UNSPECIFIED
        else {o.vertex_model_type: o.automl_model_type for o in OptimizeFor}.get(
            model_type.name, model_type.name.lower()
        )
    )
    assert vertex._int64(read_inputs.get("budgetMilliNodeHours")) == inputs.budget_milli_node_hours
    assert vertex._int64(read_metadata.get("costMilliNodeHours")) == metadata.cost_milli_node_hours
    stop = Metadata.SuccessfulStopReason(metadata.successful_stop_reason)
    assert vertex._enum_name(read_metadata.get("successfulStopReason")) == (
        ""
        if stop == Metadata.SuccessfulStopReason.SUCCESSFUL_STOP_REASON_UNSPECIFIED
        else stop.name
    )


@pytest.mark.parametrize(
    "value, number", [(1000.0, 1000), ("1000", 1000), ("1e3", 1000), (None, 0), ("x", 0), (1.5, 0)]
)
def test_an_int64_field_written_as_a_number_reads_as_one(value, number):
    """A Struct can carry an int64 as a JSON number (a writer other than the SDK): the same."""
    assert vertex._int64(value) == number
