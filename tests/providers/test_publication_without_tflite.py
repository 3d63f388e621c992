"""A Publication of a model exported without TF Lite is refused with a message, not a crash.

`export: [tf_saved_model]` leaves a ModelExport without the file apps download (`modelFile`
None, which the engine drops: the Publication's inputs have no `modelFile`); publishing it
used to end in a KeyError traceback after the training was paid.
"""

import pytest

from components.cloud.clients import CloudTarget
from components.providers.base import UserError
from components.providers.publication import PublicationProvider


def _props() -> dict:
    """The inputs as the engine hands them: properties whose value is None are left out."""
    return {
        "name": "digits",
        "cloud": CloudTarget("local", "demo", emulator=True).as_inputs(),
        "target": "storage",
        "displayName": "digits_v1",
        "tags": [],
        "published": True,
        "model": "digits",
        "registryBucket": "registry",
        "recordBucket": "records",
        "fingerprint": "sha256:" + "0" * 64,
        "threshold": 0.5,
        "labels": ["one", "two"],
    }


def test_publishing_a_model_without_a_tflite_file_names_what_is_missing():
    with pytest.raises(UserError) as refused:
        PublicationProvider().create(_props())
    message = str(refused.value)
    assert message.startswith("Publication 'digits': ")
    assert "model 'digits' has no TF Lite export" in message
    assert "tflite or edgetpu_tflite" in message
