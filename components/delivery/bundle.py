"""`edgectl download`: the gated model as an app bundles it, every file checked against the record.

DIR gets:
- `model.tflite`: the exact file the stack gated (sha256 = the record's);
- `dict.txt`: the labels in output order; `manifest.json`: with the two above, the AutoML
  Vision Edge bundle layout (`modelFile`, `labelsFile`, `modelType`) that ML Kit's older
  AutoML image labeler loads;
- `model.json`: stack, model, fingerprint, threshold, metrics, labels, where it came from, and
  the sha256 of every file written;
- `README.md`: loading it with ML Kit's custom image labeler on Android and iOS, with the
  gate's threshold.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from components.delivery.gated import LABELS_FILE, DeliveryError, GatedModel

MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
FACTS_FILE = "model.json"
README_FILE = "README.md"
METRICS = ("precision", "recall", "f1", "auPrc")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_files(gated: GatedModel) -> dict[str, bytes]:
    """Every file of the bundle, by name."""
    labels = "".join(f"{label}\n" for label in gated.labels).encode()
    manifest = {"modelFile": MODEL_FILE, "labelsFile": LABELS_FILE, "modelType": "IMAGE_LABELING"}
    files = {
        MODEL_FILE: gated.data,
        LABELS_FILE: labels,
        MANIFEST_FILE: (json.dumps(manifest, indent=2) + "\n").encode(),
    }
    facts = model_facts(gated, {name: sha256(data) for name, data in files.items()})
    files[FACTS_FILE] = (json.dumps(facts, indent=2) + "\n").encode()
    files[README_FILE] = readme(gated).encode()
    return files


def model_facts(gated: GatedModel, digests: dict[str, str]) -> dict[str, Any]:
    record, gate = gated.record, gated.record.gate
    return {
        "stack": gated.stack,
        "model": gated.model,
        "fingerprint": record.fingerprint,
        "threshold": gated.threshold,
        "metrics": {key: gate.get(key) for key in METRICS if gate.get(key) is not None},
        "labels": list(gated.labels),
        "artifact": {
            "format": gated.artifact.format,
            "uri": gated.artifact.uri,
            "sha256": gated.artifact.sha256,
        },
        "datasetFingerprint": record.dataset_fingerprint,
        "created": record.created,
        "promotedFrom": record.promoted_from,
        "sha256": digests,
    }


def download(gated: GatedModel, out: Path) -> dict[str, str]:
    """Writes the bundle into `out` (created; files of another bundle there are replaced) and
    returns the sha256 of each file written, read back from disk."""
    files = bundle_files(gated)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DeliveryError(f"--out {out} is a file; a directory (new or existing) is needed")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        # Each file whole or not at all: written beside, then renamed over the old one.
        handle, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(tmp, out / name)
    written = {name: sha256((out / name).read_bytes()) for name in files}
    if written[MODEL_FILE] != gated.artifact.sha256:
        raise DeliveryError(
            f"{out / MODEL_FILE} has sha256 {written[MODEL_FILE]} on disk, but the record says "
            f"{gated.artifact.sha256}; the disk or another process changed it"
        )
    return written


def readme(gated: GatedModel) -> str:
    """How an app loads this bundle with ML Kit's custom image labeler, at the gate's threshold."""
    # Long: mostly the README's text (Android and iOS snippets), one f-string per block.
    threshold = gated.threshold if gated.threshold is not None else 0.5
    t = f"{threshold:g}"
    gate = gated.record.gate
    metrics = ", ".join(
        f"{key} {float(gate[key]):.3f}" for key in METRICS if gate.get(key) is not None
    )
    return f"""\
# Model `{gated.model}` from stack `{gated.stack}`

- fingerprint: `{gated.record.fingerprint}`
- gate: passed at confidence threshold **{t}** ({metrics}, TEST split)
- labels ({len(gated.labels)}, in output order): {", ".join(gated.labels)}
- files: `{MODEL_FILE}` (the file the gate measured, sha256 `{gated.artifact.sha256}`),
  `{LABELS_FILE}`, `{MANIFEST_FILE}` (AutoML Vision Edge bundle), `{FACTS_FILE}` (threshold,
  metrics, sha256 of every file)

The model takes RGB pixels 0-255 and normalizes them itself. When `{MODEL_FILE}` carries TF Lite
metadata (labels, normalization, threshold; `edgectl predict --model-file {MODEL_FILE}` reads
it), ML Kit needs nothing else; set the threshold anyway, so the app and the gate agree.

## Android (ML Kit custom image labeling)

Copy `{MODEL_FILE}` to `app/src/main/assets/{gated.model}/`, keep it uncompressed
(`androidResources {{ noCompress += "tflite" }}`) and depend on
`com.google.mlkit:image-labeling-custom`.

```kotlin
val localModel = LocalModel.Builder()
    .setAssetFilePath("{gated.model}/{MODEL_FILE}")
    .build()
val options = CustomImageLabelerOptions.Builder(localModel)
    .setConfidenceThreshold({t}f)  // the gate's threshold
    .setMaxResultCount(3)
    .build()
val labeler = ImageLabeling.getClient(options)
labeler.process(InputImage.fromBitmap(bitmap, 0))
    .addOnSuccessListener {{ labels ->
        labels.forEach {{ Log.d("labels", "${{it.text}} ${{it.confidence}}") }}
    }}
```

## iOS (ML Kit custom image labeling)

Add `{MODEL_FILE}` to the app target and the pod `GoogleMLKit/ImageLabelingCustom`.

```swift
let path = Bundle.main.path(forResource: "model", ofType: "tflite")!
let options = CustomImageLabelerOptions(localModel: LocalModel(path: path))
options.confidenceThreshold = NSNumber(value: {t})  // the gate's threshold
options.maxResultCount = 3
let labeler = ImageLabeler.imageLabeler(options: options)
labeler.process(VisionImage(image: uiImage)) {{ labels, error in
    for label in labels ?? [] {{ print(label.text, label.confidence) }}
}}
```

To update the model without an app release, publish it (the Publication spec) and load it
with `CustomRemoteModel` / Firebase ML by its display name, or point apps at it with a
Remote Config rollout (see the project's README, "Use the model in your app").
"""
