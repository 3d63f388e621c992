"""One network per AutoML model type: MobileNet-style depthwise-separable stacks, small → large.

Every model takes RGB pixels 0–255 as float32 `[batch, H, W, 3]` of any size and carries its own
preprocessing (a Resizing layer to the type's input size, then a Rescaling layer to [-1, 1]), so
exported files need nothing from the app but pixels. The head is softmax (multiclass) or sigmoid
(multilabel), one score per label in the order given.

Sizes were chosen for a 2-core CPU: on 32×32 digits, low-latency trains an epoch of 1,400 images
in about 1.3 s; parameter counts (and so .tflite sizes) grow strictly with the type.
"""

from dataclasses import dataclass
from pathlib import Path

from emulator.core.tf_setup import keras

MOBILE_MODEL_TYPES = ("mobile-low-latency-1", "mobile-versatile-1", "mobile-high-accuracy-1")
MODEL_TYPES = (*MOBILE_MODEL_TYPES, "cloud")


class ArchitectureError(ValueError):
    """A model type or base model the engine cannot build; the message says why."""


@dataclass(frozen=True)
class Architecture:
    """How one model type is built and trained."""

    model_type: str
    input_size: int  # square input the model resizes to, in pixels
    width: float  # MobileNet width multiplier applied to every block's filters
    stem_filters: int
    # (filters before the width multiplier, stride) of each depthwise-separable block
    blocks: tuple[tuple[int, int], ...]
    dropout: float
    batch_size: int
    learning_rate: float


# Keras' default 0.99 needs hundreds of steps before inference statistics settle; small
# datasets give a few steps per epoch, so validation loss (early stopping) would lag far behind.
_BN_MOMENTUM = 0.9

_MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))

ARCHITECTURES: dict[str, Architecture] = {
    "mobile-low-latency-1": Architecture(
        model_type="mobile-low-latency-1",
        input_size=32,
        width=0.5,
        stem_filters=32,
        blocks=((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)),
        dropout=0.1,
        batch_size=32,
        learning_rate=3e-3,
    ),
    "mobile-versatile-1": Architecture(
        model_type="mobile-versatile-1",
        input_size=48,
        width=0.75,
        stem_filters=32,
        blocks=(*_MOBILENET_V1, (512, 1)),
        dropout=0.2,
        batch_size=32,
        learning_rate=2e-3,
    ),
    "mobile-high-accuracy-1": Architecture(
        model_type="mobile-high-accuracy-1",
        input_size=64,
        width=1.0,
        stem_filters=32,
        blocks=(*_MOBILENET_V1, (512, 1), (512, 1)),
        dropout=0.2,
        batch_size=32,
        learning_rate=2e-3,
    ),
    "cloud": Architecture(
        model_type="cloud",
        input_size=96,
        width=1.0,
        stem_filters=32,
        blocks=(*_MOBILENET_V1, (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)),
        dropout=0.2,
        batch_size=32,
        learning_rate=2e-3,
    ),
}


def architecture(model_type: str) -> Architecture:
    """The architecture of a model type; ArchitectureError names the allowed types."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise ArchitectureError(
            f"model_type {model_type!r} is not supported; allowed: {', '.join(MODEL_TYPES)}"
        ) from None


def _filters(arch: Architecture, base: int) -> int:
    # MobileNet rounds channel counts to multiples of 8 (good for SIMD and int8 kernels).
    return max(8, int(base * arch.width + 4) // 8 * 8)


def build_model(arch: Architecture, num_labels: int, multilabel: bool):
    """A fresh, untrained Keras model for the architecture (weights from the global seed)."""
    k = keras()
    layers = k.layers
    pixels = k.Input(shape=(None, None, 3), dtype="float32", name="pixels")
    x = layers.Resizing(arch.input_size, arch.input_size, name="resize")(pixels)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalise")(x)
    x = layers.Conv2D(
        _filters(arch, arch.stem_filters), 3, strides=2, padding="same", use_bias=False, name="stem"
    )(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for i, (base, stride) in enumerate(arch.blocks, start=1):
        x = layers.DepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, name=f"block{i}_dw"
        )(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"block{i}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"block{i}_dw_relu")(x)
        x = layers.Conv2D(_filters(arch, base), 1, use_bias=False, name=f"block{i}_pw")(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"block{i}_pw_bn")(x)
        x = layers.ReLU(6.0, name=f"block{i}_pw_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return _with_head(pixels, x, arch.dropout, num_labels, multilabel, arch.model_type)


def _with_head(pixels, features, dropout: float, num_labels: int, multilabel: bool, name: str):
    k = keras()
    x = k.layers.Dropout(dropout, name="head_dropout")(features)
    scores = k.layers.Dense(
        num_labels, activation="sigmoid" if multilabel else "softmax", name="scores"
    )(x)
    return k.Model(pixels, scores, name=name.replace("-", "_"))


def build_transfer_model(
    base_model_path: Path, arch: Architecture, num_labels: int, multilabel: bool
) -> tuple[object, int]:
    """A model that reuses a base model's features with a new head; returns (model, input size).

    `.keras` files (for instance the `model.keras` this engine writes) are fine-tuned whole:
    everything up to the input of their last Dense layer becomes the trunk. A SavedModel
    directory is used as a frozen feature extractor through its `serving_default` signature.
    Either way the base must take RGB pixels 0–255 float32, like this engine's models.
    """
    k = keras()
    path = Path(base_model_path)
    pixels = k.Input(shape=(None, None, 3), dtype="float32", name="pixels")
    if path.is_file() and path.suffix == ".keras":
        try:
            base = k.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for unreadable files
            raise ArchitectureError(f"base model {path}: cannot be loaded as Keras: {exc}") from exc
        dense = [layer for layer in base.layers if isinstance(layer, k.layers.Dense)]
        if not dense:
            raise ArchitectureError(
                f"base model {path}: has no Dense layer to replace; a classifier model is needed"
            )
        trunk = k.Model(base.inputs, dense[-1].input, name="base")
        size = _resize_size(base) or _fixed_size(base.inputs[0].shape) or arch.input_size
        x = pixels if _resize_size(base) else k.layers.Resizing(size, size, name="resize")(pixels)
        features = trunk(x)
    elif path.is_dir() and (path / "saved_model.pb").is_file():
        layer = k.layers.TFSMLayer(str(path), call_endpoint="serving_default", trainable=False)
        size = arch.input_size
        x = k.layers.Resizing(size, size, name="resize")(pixels)
        features = layer(x)
        if isinstance(features, dict):
            if len(features) != 1:
                raise ArchitectureError(
                    f"base model {path}: serving_default has {len(features)} outputs; "
                    "one feature or score tensor is needed"
                )
            features = next(iter(features.values()))
    else:
        raise ArchitectureError(
            f"base model {path}: not found or not a model; allowed: a .keras file or a "
            "SavedModel directory (with saved_model.pb)"
        )
    if len(features.shape) != 2:
        raise ArchitectureError(
            f"base model {path}: features have shape {tuple(features.shape)}; "
            "a [batch, features] tensor is needed"
        )
    return _with_head(pixels, features, arch.dropout, num_labels, multilabel, arch.model_type), size


def _resize_size(model) -> int | None:
    k = keras()
    for layer in model.layers:
        if isinstance(layer, k.layers.Resizing):
            return int(layer.height)
    return None


def _fixed_size(shape) -> int | None:
    height, width = shape[1], shape[2]
    return int(height) if height is not None and height == width else None
