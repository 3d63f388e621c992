"""`edge-labeler:adopt` (resource name → cloud id): the program declares those resources with
the `import_` option, so `pulumi up` imports the existing cloud resource instead of creating
one (the README's "Adoption"); a name the stack does not declare is refused before anything."""

import json

from tests.program.run_program import program_result

MODEL = "projects/my-company-ml-dev/locations/us-central1/models/3216549870"
FIREBASE = "projects/my-company-ml-dev/models/12345678"


def _imports(result):
    return {r["name"]: r["importId"] for r in result["resources"] if r["importId"]}


def test_adopted_resources_are_declared_with_import():
    adopt = {"digits-model": MODEL, "digits-publication": FIREBASE, "ml-data-bucket": "ml-b"}
    result = program_result("dev", config={"edge-labeler:adopt": json.dumps(adopt)})
    assert result["error"] is None, result["error"]
    assert _imports(result) == adopt  # the GCP bucket (pulumi_gcp) is imported the same way


def test_without_adopt_nothing_is_imported():
    assert _imports(program_result("local")) == {}


def test_a_name_the_stack_does_not_declare_is_refused_with_the_names_it_has():
    result = program_result("local", config={"edge-labeler:adopt": '{"digits-modle": "x"}'})
    assert "edge-labeler:adopt names no resource of this stack: digits-modle" in result["error"]
    assert "digits-model" in result["error"]
    assert result["resources"] == [] or not _imports(result)
