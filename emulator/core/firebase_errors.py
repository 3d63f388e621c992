"""Firebase ML's own error texts, and the shape of its request errors.

The texts are the real service's, as firebase-admin-python's integration test
(`integration/test_ml.py`, run against Google) and firebase-admin-node's
(`test/integration/machine-learning.spec.ts`) quote them. Where they quote none, the emulator's
own wording is used and emulator/FIDELITY.md says so.

A malformed request is refused the way Google's front end refuses it: HTTP 400 with the generic
message "Request contains an invalid argument." (what `list` answers to a filter it cannot
read) and the particulars in a `google.rpc.BadRequest` detail, which clients do not show but a
developer reading the response can.
"""

from emulator.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

# HTTP 400 for a malformed request (integration/test_ml.py, test_list_models_invalid_filter).
INVALID_REQUEST = "Request contains an invalid argument."
# HTTP 404 of get/delete (test_get_non_existing_model, test_delete_model).
ENTITY_NOT_FOUND = "Requested entity was not found."
# state.validationError of a model created without a file (check_no_model_format; the node
# test's verifyModel too).
NO_MODEL_FILE = "No model file has been uploaded."
# state.validationError of a file that is not a TF Lite flatbuffer (test_create_invalid_model);
# the text of TensorFlow Lite's model verifier (tensorflow/lite/tools/verifier.cc).
INVALID_FLATBUFFER = "Invalid flatbuffer format"
# The operation error of publishing a model without a verified file (test_publish_invalid_fails).
NOT_VERIFIED = "Cannot publish a model that is not verified."


class FieldViolation(InvalidArgument):
    """A malformed request: the generic 400 message, the field and what is wrong in details."""

    def __init__(self, field: str, description: str, message: str = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.field = field
        self.description = description

    def details(self) -> list[dict]:
        """The error's `details`: one google.rpc.BadRequest naming the field."""
        return [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": self.field, "description": self.description}],
            }
        ]


def entity_not_found() -> NotFound:
    return NotFound(ENTITY_NOT_FOUND)


def model_not_found(name: str) -> NotFound:
    """The operation error of changing a missing model (test_update_non_existing_model)."""
    return NotFound(f"Model '{name}' was not found")


def model_exists(display_name: str) -> AlreadyExists:
    """The operation error of a display name already taken (test_create_already_existing_fails)."""
    return AlreadyExists(f"Model '{display_name}' already exists")


def not_verified() -> FailedPrecondition:
    return FailedPrecondition(NOT_VERIFIED)
