"""Broken specs: each case asserts the exact file:line:column and message of every error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.spec import SpecError, load_specs
from tests.spec.spec_tree import write_tree

MODEL = """\
apiVersion: edge-labeler/v1
kind: Model
metadata:
  name: flowers
spec:
  dataset: digits
  budget:
    nodeHours: {hours}
  acceptance:
    threshold: {threshold}
"""


def model(hours: str = "1", threshold: str = "{maximize: f1}") -> str:
    return MODEL.replace("{hours}", hours).replace("{threshold}", threshold)


PUBLICATION = """\
apiVersion: edge-labeler/v1
kind: Publication
metadata:
  name: flowers
spec:
  model: flowers
  target: firebase-ml
  displayName: {display}
"""


def publication(display: str = "flowers") -> str:
    return model() + "---\n" + PUBLICATION.replace("{display}", display)


ROLLOUT = """\
apiVersion: edge-labeler/v1
kind: Rollout
metadata:
  name: {name}
spec:
  parameter: {parameter}
  publication: flowers
  conditions:
{conditions}"""


def rollout(conditions: str, name: str = "flowers", parameter: str = "flowers_model") -> str:
    """A Rollout document; `conditions`: its list items, indented four spaces."""
    return (
        ROLLOUT.replace("{name}", name)
        .replace("{parameter}", parameter)
        .replace("{conditions}", conditions)
    )


CANDIDATE = "    - {name: candidate, publication: flowers, percent: 10}\n"


@dataclass
class Case:
    id: str
    files: dict[str, str]
    errors: list[str]
    stack: str | None = None
    warnings: list[str] = field(default_factory=list)


CASES = [
    Case(
        "yaml-syntax-error",
        {"specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Model: Bucket\n"},
        ["specs/x.yaml:2:12: invalid YAML: mapping values are not allowed here"],
    ),
    Case(
        "yaml-unclosed-flow-sequence",
        {"specs/x.yaml": model().replace("{maximize: f1}", "[maximize, f1")},
        [
            "specs/x.yaml:11:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 10)"
        ],
    ),
    Case(
        "duplicate-yaml-key",
        {"specs/x.yaml": model() + "  dataset: other\n"},
        [
            "specs/x.yaml:11:3: Model 'flowers' spec.dataset: duplicate key (first at line "
            "6:3); YAML would keep only one of them, remove the other"
        ],
    ),
    Case(
        "wrong-type",
        {"specs/x.yaml": model(hours="one")},
        [
            "specs/x.yaml:8:16: Model 'flowers' spec.budget.nodeHours: expected a number, "
            "got the string 'one' (edge models train 1–100 node hours)"
        ],
    ),
    Case(
        "unknown-key-did-you-mean",
        {"specs/x.yaml": model().replace("  budget:", "  budjet:")},
        [
            "specs/x.yaml:5:1: Model 'flowers' spec.budget: required field is missing",
            "specs/x.yaml:7:3: Model 'flowers' spec.budjet: unknown field (did you mean "
            "'budget'?); allowed here: dataset, optimizeFor, budget, export, baseModel, "
            "deploy, seed, retainOnDelete, acceptance, promoted",
        ],
    ),
    Case(
        "budget-not-a-number",
        {"specs/x.yaml": model(hours=".nan")},
        [
            "specs/x.yaml:8:16: Model 'flowers' spec.budget.nodeHours: expected a number, "
            "got the string '.nan' (edge models train 1–100 node hours)"
        ],
    ),
    Case(
        "budget-below-minimum",
        {"specs/x.yaml": model(hours="0.5")},
        [
            "specs/x.yaml:8:16: Model 'flowers' spec.budget.nodeHours: 0.5 is below the "
            "minimum 1 (edge models train 1–100 node hours)"
        ],
    ),
    Case(
        "budget-above-maximum",
        {"specs/x.yaml": model(hours="101")},
        [
            "specs/x.yaml:8:16: Model 'flowers' spec.budget.nodeHours: 101 is above the "
            "maximum 100 (edge models train 1–100 node hours)"
        ],
    ),
    Case(
        "threshold-above-one",
        {"specs/x.yaml": model(threshold="{fixed: 1.5}")},
        [
            "specs/x.yaml:10:24: Model 'flowers' spec.acceptance.threshold.fixed: 1.5 is "
            "above the maximum 1 (a probability between 0 and 1)"
        ],
    ),
    Case(
        "two-threshold-policies",
        {"specs/x.yaml": model(threshold="{fixed: 0.5, maximize: f1}")},
        [
            "specs/x.yaml:10:29: Model 'flowers' spec.acceptance.threshold: give exactly one "
            "of fixed, precisionAtLeast, maximize; found fixed and maximize"
        ],
    ),
    Case(
        "no-threshold-policy",
        {"specs/x.yaml": model(threshold="{}")},
        [
            "specs/x.yaml:10:5: Model 'flowers' spec.acceptance.threshold: needs exactly one "
            "of fixed, precisionAtLeast, maximize; none is given"
        ],
    ),
    Case(
        "bad-label-key-in-perLabel",
        {
            "specs/x.yaml": model()
            + "    perLabel:\n      eight: {minRecall: 0.8}\n      not-a-label: {minRecall: 0.8}\n"
        },
        [
            "specs/x.yaml:13:7: Model 'flowers' spec.acceptance.perLabel.not-a-label: "
            "'not-a-label' is not a valid key (a label is 1–32 ASCII letters, digits or '_', "
            "like the folder names of a structured zip)"
        ],
    ),
    Case(
        "empty-perLabel-entry",
        {"specs/x.yaml": model() + "    perLabel:\n      eight: {}\n"},
        [
            "specs/x.yaml:12:7: Model 'flowers' spec.acceptance.perLabel.eight: must not be "
            "empty (give minPrecision and/or minRecall)"
        ],
    ),
    Case(
        "noWorseThan-only-published",
        {"specs/x.yaml": model() + "    noWorseThan: latest\n"},
        [
            "specs/x.yaml:11:18: Model 'flowers' spec.acceptance.noWorseThan: 'latest' is "
            "not one of published"
        ],
    ),
    Case(
        "export-duplicate-and-unknown",
        {"specs/x.yaml": model() + "  export: [tflite, tflite, onnx]\n"},
        [
            "specs/x.yaml:11:20: Model 'flowers' spec.export[1]: 'tflite' is listed more than once",
            "specs/x.yaml:11:28: Model 'flowers' spec.export[2]: 'onnx' is not one of "
            "tflite, edgetpu_tflite, tf_saved_model",
        ],
    ),
    Case(
        "dangling-reference",
        {"specs/x.yaml": model().replace("dataset: digits", "dataset: digitz")},
        [
            "specs/x.yaml:6:12: Model 'flowers' spec.dataset: no Dataset named 'digitz' "
            "(did you mean 'digits'?); Dataset documents: digits"
        ],
    ),
    Case(
        "publication-of-missing-model",
        {
            "specs/x.yaml": PUBLICATION.replace("{display}", "flowers").replace(
                "model: flowers", "model: roses"
            )
        },
        [
            "specs/x.yaml:6:10: Publication 'flowers' spec.model: no Model named 'roses'; "
            "there are no Model documents"
        ],
    ),
    Case(
        "duplicate-name",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata:\n"
            "  name: ml-data\nspec: {}\n"
        },
        [
            "specs/x.yaml:4:9: Bucket 'ml-data' metadata.name: duplicate Bucket name; first "
            "defined at specs/base.yaml:3:18"
        ],
    ),
    Case(
        "bad-name-pattern",
        {"specs/x.yaml": model().replace("name: flowers", "name: Flowers_1")},
        [
            "specs/x.yaml:4:9: Model 'Flowers_1' metadata.name: 'Flowers_1' does not match "
            "^[a-z][a-z0-9-]{0,62}$ (lowercase letters, digits and '-', starting with a "
            "letter, at most 63 characters)"
        ],
    ),
    Case(
        "bad-apiVersion",
        {"specs/x.yaml": model().replace("edge-labeler/v1", "edge-labeler/v2")},
        [
            "specs/x.yaml:1:13: Model 'flowers' apiVersion: 'edge-labeler/v2' is not "
            "supported; the only accepted value is 'edge-labeler/v1'"
        ],
    ),
    Case(
        "unknown-kind",
        {"specs/x.yaml": model().replace("kind: Model", "kind: Modle")},
        [
            "specs/x.yaml:2:7: kind: 'Modle' is not a kind; kinds are Bucket, Dataset, "
            "Model, Publication, Rollout (did you mean 'Model'?)"
        ],
    ),
    Case(
        "document-not-a-mapping",
        {"specs/x.yaml": "- apiVersion: edge-labeler/v1\n"},
        [
            "specs/x.yaml:1:1: a document must be a mapping with apiVersion, kind, metadata, "
            "spec; got a list"
        ],
    ),
    Case(
        "two-sources",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: two}\n"
            "spec:\n  bucket: ml-data\n  source:\n    zip: data/digits.zip\n"
            "    directory: data\n"
        },
        [
            "specs/x.yaml:8:5: Dataset 'two' spec.source: give exactly one of zip, directory, "
            "csv, images; found zip and directory"
        ],
    ),
    Case(
        "labels-without-images",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: lab}\n"
            "spec:\n  bucket: ml-data\n  source:\n    zip: data/digits.zip\n"
            "    labels: data/labels.csv\n"
        },
        [
            "specs/x.yaml:8:5: Dataset 'lab' spec.source.labels: is only allowed together "
            "with 'images' (labels go with images (unlabeled images); zip, directory and csv "
            "carry their own labels)",
            "specs/x.yaml:8:13: Dataset 'lab' spec.source.labels: specs/data/labels.csv does "
            "not exist (paths are relative to the directory of specs/x.yaml)",
        ],
    ),
    Case(
        "missing-file",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: gone}\n"
            "spec:\n  bucket: ml-data\n  source: {zip: data/missing.zip}\n"
        },
        [
            "specs/x.yaml:6:17: Dataset 'gone' spec.source.zip: specs/data/missing.zip does "
            "not exist (paths are relative to the directory of specs/x.yaml)"
        ],
    ),
    Case(
        "directory-source-is-a-file",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: dir}\n"
            "spec:\n  bucket: ml-data\n  source: {directory: data/digits.zip}\n"
        },
        [
            "specs/x.yaml:6:23: Dataset 'dir' spec.source.directory: specs/data/digits.zip "
            "is a file; expected a directory"
        ],
    ),
    Case(
        "csv-not-a-gs-uri",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: idx}\n"
            "spec:\n  bucket: ml-data\n  source: {csv: /tmp/index.csv}\n"
        },
        [
            "specs/x.yaml:6:17: Dataset 'idx' spec.source.csv: '/tmp/index.csv' does not "
            "match ^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/.+$ (a Cloud Storage URI such as "
            "gs://my-bucket/index.csv)"
        ],
    ),
    Case(
        "split-not-summing-to-one",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: spl}\n"
            "spec:\n  bucket: ml-data\n  source: {zip: data/digits.zip}\n"
            "  split: {train: 0.7, validation: 0.1}\n"
        },
        [
            "specs/x.yaml:7:3: Dataset 'spl' spec.split: train 0.7 + validation 0.1 + test "
            "0.1 = 0.9; the fractions must sum to 1 (defaults: 0.8, 0.1, 0.1)"
        ],
    ),
    Case(
        "split-train-zero",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: spl}\n"
            "spec:\n  bucket: ml-data\n  source: {zip: data/digits.zip}\n"
            "  split: {train: 0, validation: 0.5, test: 0.5}\n"
        },
        [
            "specs/x.yaml:7:18: Dataset 'spl' spec.split.train: 0 must be greater than 0 "
            "(a fraction in (0, 1]; training needs images)"
        ],
    ),
    Case(
        "baseModel-cycle",
        {
            "specs/x.yaml": model().replace("name: flowers", "name: a")
            + "  baseModel: {model: b}\n---\n"
            + model().replace("name: flowers", "name: b")
            + "  baseModel: {model: a}\n"
        },
        [
            "specs/x.yaml:11:22: Model 'a' spec.baseModel.model: baseModel cycle a → b → a; "
            "a model cannot start from its own weights"
        ],
    ),
    Case(
        "baseModel-self-reference-and-missing-path",
        {
            "specs/x.yaml": model()
            + "  baseModel: {model: flowers}\n---\n"
            + model().replace("name: flowers", "name: tulips")
            + "  baseModel: {path: weights/base.keras}\n"
        },
        [
            "specs/x.yaml:11:22: Model 'flowers' spec.baseModel.model: baseModel cycle "
            "flowers → flowers; a model cannot start from its own weights",
            "specs/x.yaml:23:21: Model 'tulips' spec.baseModel.path: specs/weights/base.keras "
            "does not exist (paths are relative to the directory of specs/x.yaml)",
        ],
    ),
    Case(
        "displayName-with-space",
        {"specs/x.yaml": publication(display="'digits classifier'")},
        [
            "specs/x.yaml:19:16: Publication 'flowers' spec.displayName: 'digits classifier' "
            "does not match ^[A-Za-z0-9_-]{1,32}$ (1–32 letters, digits, '_' or '-')"
        ],
    ),
    Case(
        "displayName-33-characters",
        {"specs/x.yaml": publication(display="a" * 33)},
        [
            f"specs/x.yaml:19:16: Publication 'flowers' spec.displayName: '{'a' * 33}' does "
            "not match ^[A-Za-z0-9_-]{1,32}$ (1–32 letters, digits, '_' or '-')"
        ],
    ),
    Case(
        "tags-too-many-and-duplicate",
        {
            "specs/x.yaml": publication()
            + "  tags: ["
            + ", ".join(f"t{i}" for i in range(20))
            + ", t0]\n"
        },
        [
            "specs/x.yaml:20:9: Publication 'flowers' spec.tags: has 21 items; at most 20 "
            "are allowed",
            "specs/x.yaml:20:100: Publication 'flowers' spec.tags[20]: 't0' is listed more "
            "than once",
        ],
    ),
    Case(
        "bucket-label-and-name-rules",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: b2}\n"
            "spec:\n  labels: {Team: ml}\n  bucketName: my-google-bucket\n"
        },
        [
            "specs/x.yaml:5:12: Bucket 'b2' spec.labels.Team: 'Team' is not a valid key "
            "(a label key starts with a lowercase letter and has at most 63 lowercase "
            "letters, digits, '_' or '-')",
            "specs/x.yaml:6:15: Bucket 'b2' spec.bucketName: 'my-google-bucket' must not "
            "contain 'google' or look-alikes such as 'g00gle' (reserved by Cloud Storage)",
        ],
    ),
    Case(
        "bucket-name-reserved-word",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Bucket\nmetadata: {name: b2}\n"
            "spec:\n  bucketName: my-google-bucket\n"
        },
        [
            "specs/x.yaml:5:15: Bucket 'b2' spec.bucketName: 'my-google-bucket' must not "
            "contain 'google' or look-alikes such as 'g00gle' (reserved by Cloud Storage)"
        ],
    ),
    Case(
        "promoted-bad-fingerprint",
        {"specs/x.yaml": model() + "  promoted: {from: staging, fingerprint: 'sha256:abc'}\n"},
        [
            "specs/x.yaml:11:42: Model 'flowers' spec.promoted.fingerprint: 'sha256:abc' does "
            "not match ^sha256:[0-9a-f]{64}$ (sha256: followed by 64 lowercase hex digits)"
        ],
    ),
    Case(
        "yaml-merge-key-rejected",
        {"specs/x.yaml": model() + "  deploy:\n    <<: {nodes: 2}\n"},
        [
            "specs/x.yaml:12:5: Model 'flowers' spec.deploy: YAML merge keys ('<<') are not "
            "supported; write the fields out, or put per-stack differences in an "
            "envs/<stack>.yaml overlay"
        ],
    ),
    Case(
        "overlay-for-missing-document",
        {
            "specs/x.yaml": model(),
            "specs/envs/dev.yaml": "apiVersion: edge-labeler/v1\nkind: Model\n"
            "metadata: {name: flower}\nspec:\n  seed: 3\n",
        },
        [
            "specs/envs/dev.yaml:3:18: Model 'flower' metadata.name: overlay matches no Model "
            "named 'flower' in specs (did you mean 'flowers'?); Model documents: flowers"
        ],
        stack="dev",
    ),
    Case(
        "overlay-bad-value-points-into-overlay",
        {
            "specs/x.yaml": model(),
            "specs/envs/prod.yaml": "apiVersion: edge-labeler/v1\nkind: Model\n"
            "metadata: {name: flowers}\nspec:\n  budget: {nodeHours: 500}\n",
        },
        [
            "specs/envs/prod.yaml:5:23: Model 'flowers' spec.budget.nodeHours: 500 is above "
            "the maximum 100 (edge models train 1–100 node hours)"
        ],
        stack="prod",
    ),
    Case(
        "source-not-a-mapping",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: d}\n"
            "spec:\n  bucket: ml-data\n  source: 5\n"
        },
        ["specs/x.yaml:6:11: Dataset 'd' spec.source: expected a mapping, got the number 5"],
    ),
    Case(
        "base-model-promoted-on-this-stack",
        {
            "specs/x.yaml": model()
            + "---\n"
            + model().replace("name: flowers", "name: tulips")
            + "  baseModel: {model: flowers}\n",
            "specs/envs/prod.yaml": "apiVersion: edge-labeler/v1\nkind: Model\n"
            "metadata: {name: flowers}\nspec:\n  promoted:\n    from: staging\n"
            f"    fingerprint: sha256:{'a' * 64}\n",
        },
        [
            "specs/x.yaml:22:22: Model 'tulips' spec.baseModel.model: 'flowers' is promoted "
            "from another stack on this stack and has no cloud model here to start from; "
            "train it here or use baseModel.path (with stack 'prod' overlay)"
        ],
        stack="prod",
    ),
    Case(
        "overlay-null-deletes-required-field",
        {
            "specs/x.yaml": model(),
            "specs/envs/prod.yaml": "apiVersion: edge-labeler/v1\nkind: Model\n"
            "metadata: {name: flowers}\nspec:\n  budget: null\n",
        },
        [
            "specs/envs/prod.yaml:5:11: Model 'flowers' spec.budget: required field is "
            "missing (the overlay deletes it with null)"
        ],
        stack="prod",
    ),
    Case(
        "overlay-conflict-marked-with-stack",
        {
            "specs/x.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\nmetadata: {name: spl}\n"
            "spec:\n  bucket: ml-data\n  source: {zip: data/digits.zip}\n"
            "  split: {train: 0.8, validation: 0.1, test: 0.1}\n",
            "specs/envs/dev.yaml": "apiVersion: edge-labeler/v1\nkind: Dataset\n"
            "metadata: {name: spl}\nspec:\n  split: {train: 0.9}\n",
        },
        [
            "specs/x.yaml:7:3: Dataset 'spl' spec.split: train 0.9 + validation 0.1 + test 0.1 "
            "= 1.1; the fractions must sum to 1 (defaults: 0.8, 0.1, 0.1)"
            " (with stack 'dev' overlay)"
        ],
        stack="dev",
    ),
    Case(
        "overlay-envelope-errors",
        {
            "specs/x.yaml": model(),
            "specs/envs/dev.yaml": "apiVersion: edge-labeler/v1\nkind: Model\n"
            "metadata: {name: flowers}\nspecs:\n  seed: 3\n---\n"
            "apiVersion: edge-labeler/v1\nkind: Modle\nmetadata: {name: flowers}\nspec: {}\n",
        },
        [
            "specs/envs/dev.yaml:1:1: Model 'flowers' spec: required field is missing (the "
            "fields to change, as a JSON merge patch)",
            "specs/envs/dev.yaml:4:1: Model 'flowers' specs: unknown field (did you mean "
            "'spec'?); an overlay document has apiVersion, kind, metadata.name and spec",
            "specs/envs/dev.yaml:8:7: kind: 'Modle' is not a kind; kinds are Bucket, Dataset, "
            "Model, Publication, Rollout (did you mean 'Model'?)",
        ],
        stack="dev",
    ),
    Case(
        "duplicate-displayName-per-target",
        {
            "specs/x.yaml": publication(display="shared")
            + "---\n"
            + PUBLICATION.replace("{display}", "shared").replace(
                "name: flowers\nspec", "name: roses\nspec"
            )
        },
        [
            "specs/x.yaml:28:16: Publication 'roses' spec.displayName: 'shared' is already "
            "used by Publication 'flowers' (apps load models by this name)"
        ],
    ),
    Case(
        "multiple-errors-in-several-files-reported-together",
        {
            "specs/a.yaml": model(hours="0.5"),
            "specs/x.yaml": model(threshold="{fixed: 2}").replace("name: flowers", "name: b"),
            "specs/z.yaml": "kind: [\n",
        },
        [
            "specs/a.yaml:8:16: Model 'flowers' spec.budget.nodeHours: 0.5 is below the "
            "minimum 1 (edge models train 1–100 node hours)",
            "specs/x.yaml:10:24: Model 'b' spec.acceptance.threshold.fixed: 2 is above the "
            "maximum 1 (a probability between 0 and 1)",
            "specs/z.yaml:2:1: invalid YAML: expected the node content, but found "
            "'<stream end>' (while parsing a flow node at line 2)",
        ],
    ),
]


CASES += [
    Case(
        "rollout-of-missing-publication",
        {
            "specs/x.yaml": publication()
            + "---\n"
            + rollout("    - {name: candidate, publication: roses, percent: 10}\n")
        },
        [
            "specs/x.yaml:29:38: Rollout 'flowers' spec.conditions[0].publication: no "
            "Publication named 'roses'; Publication documents: flowers"
        ],
    ),
    Case(
        "rollout-condition-without-rules",
        {
            "specs/x.yaml": publication()
            + "---\n"
            + rollout("    - name: everyone\n      publication: flowers\n")
        },
        [
            "specs/x.yaml:29:7: Rollout 'flowers' spec.conditions[0]: has no rule: give at "
            "least one of percent, appId, appVersions, minAppVersion, countries (a condition "
            "without rules would serve its publication to every user)"
        ],
    ),
    Case(
        "rollout-bad-condition-name-and-percent",
        {
            "specs/x.yaml": publication()
            + "---\n"
            + rollout("    - {name: ' lead', publication: flowers, percent: 12.1234567}\n")
        },
        [
            "specs/x.yaml:29:14: Rollout 'flowers' spec.conditions[0].name: ' lead' does not "
            "match ^[-_0-9a-zA-Z'!%.]([-_0-9a-zA-Z '!%.]{0,254}[-_0-9a-zA-Z'!%.])?$ (1–256 of "
            "the characters A-Z a-z 0-9 - _ . ' ! % and spaces, not starting or ending with "
            "a space)",
            "specs/x.yaml:29:54: Rollout 'flowers' spec.conditions[0].percent: 12.1234567 has "
            "more than six decimals (Remote Config percentages have six)",
        ],
    ),
    Case(
        "rollout-parameter-taken-and-condition-taken",
        {
            "specs/x.yaml": publication()
            + "---\n"
            + rollout(CANDIDATE)
            + "---\n"
            + rollout(CANDIDATE, name="roses")
        },
        [
            "specs/x.yaml:36:14: Rollout 'roses' spec.parameter: 'flowers_model' is already "
            "used by Rollout 'flowers' (a Remote Config parameter has one value per user)",
            "specs/x.yaml:39:14: Rollout 'roses' spec.conditions[0].name: condition "
            "'candidate' is already used by Rollout 'flowers' (a condition name names one "
            "condition of the project's template)",
        ],
    ),
    Case(
        "rollout-long-parameter-needs-a-seed",
        {
            "specs/x.yaml": publication()
            + "---\n"
            + rollout(CANDIDATE, parameter="flowers_model_served_to_the_android_app")
        },
        [
            "specs/x.yaml:29:47: Rollout 'flowers' spec.conditions[0].seed: needs a seed: the "
            "default seed is the parameter key, which is not a valid seed (1–32 of A-Z a-z "
            "0-9 - _ .); give one"
        ],
    ),
    Case(
        "rollout-unpublished-publication-is-a-warning",
        {
            "specs/x.yaml": publication()
            + "  published: false\n---\n"
            + rollout(CANDIDATE)
            + "---\napiVersion: edge-labeler/v1\nkind: Rollout\n",
        },
        [
            "specs/x.yaml:32:1: Rollout metadata: required field is missing",
            "specs/x.yaml:32:1: Rollout spec: required field is missing",
        ],
        warnings=[
            "specs/x.yaml:28:16: warning: Rollout 'flowers' spec.publication: Publication "
            "'flowers' is not published (published: false): apps told to load it cannot "
            "download it",
            "specs/x.yaml:30:38: warning: Rollout 'flowers' spec.conditions[0].publication: "
            "Publication 'flowers' is not published (published: false): apps told to load it "
            "cannot download it",
        ],
    ),
]


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_spec_reports_exact_location_and_message(case: Case, spec_dir: Path):
    write_tree(Path.cwd(), case.files)
    with pytest.raises(SpecError) as raised:
        load_specs(spec_dir, case.stack)
    assert [issue.render() for issue in raised.value.issues] == case.errors
    assert [w.render() for w in raised.value.warnings] == case.warnings
