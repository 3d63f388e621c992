"""One network per AutoML model type, small → large, built for a 2-core CPU and a one-minute budget.

Every model takes RGB pixels 0–255 as float32 `[batch, H, W, 3]` of any size and carries its own
preprocessing: a Resizing layer (named `resize`) to its input side, then a Rescaling layer to
[-1, 1]. Exported TF Lite files are converted from what follows the Resizing layer (`core_of`),
with a fixed `[1, side, side, 3]` input: apps (and the predictor) resize, so the file does not.
The head is softmax (multiclass) or sigmoid (multilabel), one score per label in the order given.

Input side. Each type has a largest side for its training crops (`input_size`) and one at
inference (`largest_side`: `inference_size`, or the same); a model trained on smaller images
uses their own (median shorter) side instead, rounded up to a multiple of 8 and at least 32 —
enlarging adds no detail, only compute (the example digits are 32×32: every type then takes
32×32, in training and at inference).

Inference at a larger side ("FixRes", Touvron et al. 2019). Random resized crops down to a
quarter of an image show objects larger than the whole image does at the same side, by
E[1/√area] = 1.33 for areas uniform in [0.25, 1]; versatile therefore trains on 64-px crops
and infers at 88 px (64 × 1.33 to a multiple of 8; the exported file takes 88), high accuracy
on 88-px crops at 120 px (after 48-px crops early on: "Progressive sizing", the last
paragraph): the objects appear at the size the network learnt them, and a larger image holds
more detail.
A training step costs the same (steps run on `any_side_core`). Measured on the bench's
`photos12` (bench/datasets.py: twelve pictures, crops at their native resolution; epoch
budgets 120 / 50 / 28, seeds 7–9, float top-1 on 600 TEST crops): versatile 94.61 → 97.28 %,
high accuracy (then 72-px crops, inferring at 96) 90.28 → 90.83 %. Low latency (0.6 of an
image at least: 1.13) keeps 48 px at both (its 1 ms target; a larger inference side not
measured).

The networks are stacks of plain 3×3 convolutions with BatchNormalization and ReLU6, halving
the resolution stage by stage, then global average pooling: on a CPU, TensorFlow trains them
faster per parameter than depthwise-separable blocks, and from scratch on a few hundred images
they generalise as well. The types grow in input side and width, and from low latency to
versatile in depth (figures: bench/bench_training.py). The photo figures below were measured on
the bench's photos as they were before every crop had to show its subject (bench/datasets.py):
56 of the 100 coffee TEST crops were then table top, and most errors were those crops called
"chelsea"; on the corrected set every type scores 97–100 % per seed and the types differ by a
few images, less than a seed swings them. High accuracy is versatile's network (at larger
sides, reached by progressive sizing: the last paragraphs) with a last stage of 256 channels
instead of 160: its extra parameters (4.7 MB float against 2.8) sit where a step pays least
for them (at 1/16 of the side), so it completed 44 epochs in a quiet minute on `photos12`
against versatile's 48–51 (two paired runs, load ≈ 0.1; at versatile's sides).
On one minute of a 2-core CPU, epochs decide more than capacity: the earlier high accuracy
(versatile's network at 72 px, last stage 192) made 28–30 epochs a minute and 90.28 % on
`photos12` (seeds 7–9; 90.83 % inferring at 96 px), its best epoch the last; the same without
the stride-1 stage at the stem's resolution and with a 256 last stage (a step as cheap as
versatile's, 46 epochs) 95.78 % (97.67 / 95.33 / 94.33); versatile's network with the 256 last
stage (45 epochs) 97.33 % (98.50 / 96.00 / 97.50) against versatile's 97.28 % (99.00 / 97.17 /
95.67) — no better than versatile beyond what a seed swings. Over twelve seeds (7–18,
bench/datasets.py) low latency, versatile and high accuracy make 96.14 / 97.18 / 97.36 %: the
order holds in the means; high accuracy's lead over versatile (+0.18 points per seed, standard
error 0.47) is not beyond the seeds' swing. An extra
inference view of each image's centre (0.79 of the side, enlarged) made high accuracy worse
(98.50 → 97.50 % on seed 7, same weights): on textures the grain's size is a feature. An
earlier 96 px network (up to 384 channels) made fewer epochs of the one-minute budget and, on
the bench's photos, did worse on regions it had not seen (80–85 % against versatile's 90–96 %).
The low-latency int8 file stays far below the 0.6 MB of AutoML's published low-latency option
and runs in a fraction of a millisecond; versatile stays under 3.2 MB and high accuracy under
6 MB as float32.

Augmentation per type. Versatile and high accuracy train on random crops down to a quarter of
an image (`min_crop_area`), low latency down to 0.6 of it: the larger networks otherwise fit
the particulars of the scenes' parts they were trained on. On the bench's photos (epoch
budgets of 150 / 50 / 42 epochs, a guess at a quiet machine's minute; mean float top-1 of
seeds 7, 8, 9 on 600 TEST crops) versatile went from 93.6 % with 0.6 to 95.2 % with 0.35 and
96.9 % with 0.25, high accuracy from 96.3 % to 97.1 % with 0.25; low latency, 95.9 % with 0.6,
did no better with 0.35 (95.2 %). Smaller crops need epochs: at the default scale on a loaded
machine (18–19 epochs) high accuracy made 91.6 % with 0.25. At the default scale on a quiet
machine the types complete 121–127 / 50–51 / 28–30 epochs, and the means of three seeds came out
95.2 / 95.4 / 97.4 % (seeds 7–9) and 97.1 / 96.1 / 94.3 % (seeds 10–12): one seed swings up to
7 points, more than the types differ, so the order of the types is not shown. Cloud keeps 0.6
(not measured).

Mirror averaging. Where mirrors keep labels (the trainer decides from the data), versatile and
high accuracy score an image at inference as the mean of its own and its mirror's pooled
features (`MirrorPair` / `PairMean`, custom_layers): training still sees one image per step,
so an epoch costs the same, and the weights and the file size are unchanged; inference runs
the network twice (versatile 1.46 ms, high accuracy 2.0 ms float on a loaded machine). On the
bench's photos (epoch budgets 120 / 50 / 28, seeds 7–12, float top-1 on 600 TEST crops) the
weights kept scored 95.5 / 95.1 % without it (in Keras, the averaging applied after the fact:
96.6 / 96.4 %); the bench with it: low latency 96.75 %, versatile 96.53 %, high accuracy
96.44 % (int8 within 0.2 points) — each larger type ~1 point better, and still no order of the
types: versatile's seed 12 (92.3 %) and high accuracy's seeds 8–9 (94.2, 93.3 %) pull the
means down; high accuracy, with 28 epochs, is short of epochs. Averaging the
weights of the last 10–50 % of the epochs instead (SWA) did no better than the last epoch's, and
re-estimating BatchNorm statistics on whole (uncropped) TRAIN images made high accuracy worse
(96.8 → 89.0 % on seed 7). Low latency keeps one pass (its 1 ms target).

Tried for high accuracy on `photos12` and left out (seeds 7–9, float top-1 of the Keras model at
88 px on the 600 TEST crops; versatile at 50 epochs 98.17 / 96.33 / 95.50 %, high accuracy as
above at 45 epochs 98.33 / 95.33 / 96.17 %). More inference views of the same weights (seed 7):
96 px instead of 88, five 88-px crops of the 96-px image, or the mean over 80, 88 and 96 px —
within one TEST image of the 88-px score for both types. Ensembles inside one file (k networks
on the same normalised pixels, each with its own head and loss, scores averaged at inference):
two independently trained full models, averaged after the fact, score 1.4 points above their
mean (six pairs of seeds 7–9), but at an honest epoch budget the branches are short of epochs:
two branches at ¾ of versatile's widths with 192-channel last stages (5.3 MB, an epoch 1.6–2.0 ×
versatile's in paired timings, 30 epochs) 96.33 / 97.67 / 94.83 %; two branches sharing the stem
and the first two stages (1.2 × in one uncontended timing, 40 epochs) 97.67 / 97.67 / 95.17 %
(+0.17 points per seed against versatile, standard error 0.59), then on seed 19 94.67 against
versatile's 97.50 %; two full versatile networks each trained on half of every batch (1.2–1.5 ×,
37 epochs) 92.33 / 89.00 % (seeds 7, 8).
An exponential moving average of all weights (BatchNorm statistics included, updated after
every step, momentum min(m, (1 + t) / (10 + t))), scored in validation, kept as the best epoch
and exported, for high accuracy at 45 epochs: m = 0.99 made 98.00 / 95.00 / 96.00 % (seeds
7–9; −0.28 points per seed against the weights as trained, one or two TEST images), m = 0.995
98.00 / 95.00 % (seeds 7, 8), 0.99 with the cosine ending at ¼ of the peak rate instead of 0
(averaging in place of annealing) 97.33 / 94.33 %: the schedule anneals to zero, so the last
epochs' weights hardly move and their average is the last weights. Versatile and high accuracy
as above over seeds 7–14: 98.17 / 96.33 / 95.50 / 97.83 / 96.17 / 98.00 / 97.50 / 96.50 and
98.33 / 95.33 / 96.17 / 98.00 / 95.00 / 96.33 / 97.50 / 98.33 % (high accuracy − versatile
−0.13 points per seed, standard error 0.40).
Snapshot ensembles (Huang et al. 2017: the cosine schedule restarted within the budget, each
cycle's last weights kept, their scores averaged at inference; the file would hold one network
per cycle), versatile's network at 48 epochs, seed 7 (2026-12-04, before oneDNN's kernels,
tf_setup): one cycle 98.00 %; two cycles of 24 epochs: their weights 90.83 / 97.17 %, averaged
96.00 %; three of 16: 81.83 / 94.67 / 97.83 %, averaged 97.00 % (the last two 98.00 %). At a
minute's epochs the earlier cycles' networks are too weak to add to the last.

With oneDNN's kernels (tf_setup, 2026-12-04) a minute pays for 60-87 epochs of versatile and
58-76 of high accuracy on `photos12` instead of 47-51 and 42-45, and the order of the types'
means held on the bench's seeds 7-9 in two runs (versatile 97.11 / 97.39 %, high accuracy
97.33 / 98.06 %) but not on seeds 10-12 (98.33 against 98.06 %): high accuracy's lead over
versatile, +0.20 points per seed over the nine (standard error 0.42), is still within what a
seed swings (bench/bench_training.py).

Sides of high accuracy (2026-12-05). At versatile's sides, high accuracy's three-seed means
swung with the seeds as versatile's did (seeds 7-12 at the default scale, in one hour, float
top-1 per seed of the exported model: 98.17 / 97.17 / 96.00 / 98.17 / 96.50 / 97.33 %, mean
97.22 %; versatile's in the same hour 97.83 / 97.00 / 98.50 / 99.00 / 97.33 / 95.67 %, 97.56 %).
Trained on 72-px crops and inferring at 96 px (a `photos12` crop's own side), it completes
54-61 epochs of the minute instead of 72-87 (best epochs 47-57), and made
98.00 / 97.33 / 97.83 / 98.17 / 97.67 / 97.83 % (mean 97.81 %, every seed within 0.85 points):
+0.58 points per seed over the same network at 64 / 88 px, five seeds of six as good or better.
That spread did not hold: in `make bench` an hour later (fresh clone, load 1.7-1.8) it made
96.67 / 97.50 / 96.17 / 97.67 / 97.33 / 98.83 % (97.36 %), so the gain is one hour's measure.
At 80-px crops (96 at inference) it completed 48-56 epochs and made 96.17 % (93.00 on seed 8),
short of epochs again. Versatile at 72 / 96 px made 97.72 % (97.17-98.83 per seed): as good as
high accuracy at those sides, so versatile keeps 64 / 88 px, the cheaper step of the two.

On `photos12` with two subjects drawn closer (2026-12-05, bench/datasets.py "Subjects
corrected": a third of the errors above were TEST crops that showed no subject), seeds 7-12 at
the default scale: versatile 98.25 and 98.33 %, high accuracy at 72 / 96 px 97.47 and 97.11 %
(two runs, an hour apart; seed 8 at 95 % in both, its best epoch the last); trials of high
accuracy at 64 / 96 px 97.61 % and at 64 / 88 px 97.78 % (98.00 / 97.33 / 98.17 / 98.17 / 98.17
/ 96.83). None is ahead of versatile: on that set high accuracy's wider last stage does not pay
for its slower epochs within a minute.

Progressive sizing (2026-12-05, session 25). High accuracy trains on crops of 48 px for the first
60 % of its learning-rate schedule, then of its own side (`early_input_size`, `early_fraction`;
both steps traced before the budget starts): an early step costs about a third of a late one, so
the minute pays for more epochs at a larger final side. On `photos12` (seeds 7-12, default scale,
float top-1 of the exported model, one hour, load 1.3-2.3; its crops are 96 px, so every inference
side above is 96 there): 56 → 72 px for the first half 98.06 % (67-73 epochs); 48 → 72 px for
60 % 98.25 % (77-84); 48 → 80 98.61 % (99.00 / 98.17 / 98.83 / 98.50 / 98.50 / 98.67, 72-78
epochs); 48 → 88 98.83 % (99.33 / 97.83 / 99.00 / 98.50 / 99.50 / 98.83, 75-78 epochs); 48 → 96
98.86 % (99.17 / 98.00 / 99.00 / 98.83 / 99.83 / 98.33, 72-74 epochs). Versatile in the same
hour: 98.17 / 98.17 / 99.17 / 98.67 / 98.83 / 96.67 % (98.28 %, 82-89 epochs); high accuracy
without it (72 / 96 px) had made 97.47 and 97.11 % in the two runs above. High accuracy keeps 48 →
88 px (inferring at 88 × 1.33 where images hold it, 96 on `photos12`): +0.55 points per seed over
versatile (+1.16 / −0.34 / −0.17 / −0.17 / +0.67 / +2.16). Versatile with progressive sizing was
not measured; versatile keeps its one side (its step is the cheaper one already, and low latency's
and versatile's sides are those of their size and latency targets). Images of 48 px or less (the
example digits) train at one side: there is nothing smaller to start from.
"""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.core.tf_setup import keras

MOBILE_MODEL_TYPES = ("mobile-low-latency-1", "mobile-versatile-1", "mobile-high-accuracy-1")
MODEL_TYPES = (*MOBILE_MODEL_TYPES, "cloud")


class ArchitectureError(ValueError):
    """A model type or base model the engine cannot build; the message says why."""


@dataclass(frozen=True)
class Stage:
    """`repeats` 3×3 convolutions of `filters` channels; the first has stride `stride`."""

    filters: int
    stride: int
    repeats: int = 1


@dataclass(frozen=True)
class Architecture:
    """How one model type is built and trained."""

    model_type: str
    # Largest square side the training steps feed, in pixels (smaller images: their own side).
    input_size: int
    stem_filters: int
    stem_stride: int
    stages: tuple[Stage, ...]
    dropout: float
    batch_size: int
    learning_rate: float  # peak of the schedule
    weight_decay: float
    # Random resized crops keep this much of an image at least (augment.py): larger networks
    # get smaller crops, i.e. stronger augmentation, since they have the capacity to fit the
    # training images' particulars (here: the part of a scene they were cut from).
    min_crop_area: float
    # Inference averages the features of the image and of its mirror (training sees one of
    # them per step, so epochs cost the same): only where mirrors keep labels (the trainer
    # decides from the data, augment.mirror_keeps_labels). Latency doubles; size is the same.
    mirror_average: bool = False
    # Largest side at inference (what the exported model takes; 0: `input_size`). Random
    # resized crops show objects larger than whole images do: with areas uniform in
    # [min_crop_area, 1] by E[1/√area] (1.33 at 0.25); inference at that many times the
    # training side shows them at the size the network learnt, and reads the detail a larger
    # side holds, at no cost per training step ("FixRes", Touvron et al. 2019).
    inference_size: int = 0
    # Progressive sizing: crops of this side (smaller than `input_size`; 0: none) for the first
    # `early_fraction` of the learning-rate schedule, then of `input_size`. Early steps cost a
    # fraction of late ones, so a minute pays for more epochs at a larger final side; the first
    # epochs learn coarse features, which small crops teach as well (see the module's end).
    early_input_size: int = 0
    early_fraction: float = 0.0

    @property
    def largest_side(self) -> int:
        """The largest side the model takes at inference."""
        return self.inference_size or self.input_size


# Keras' default 0.99 needs hundreds of steps before inference statistics settle; small
# datasets give a few steps per epoch, so validation loss (early stopping) would lag far behind.
_BN_MOMENTUM = 0.9

ARCHITECTURES: dict[str, Architecture] = {
    "mobile-low-latency-1": Architecture(
        model_type="mobile-low-latency-1",
        input_size=48,
        stem_filters=24,
        stem_stride=2,
        stages=(Stage(24, 1), Stage(48, 2, 2), Stage(96, 2, 2)),
        dropout=0.1,
        batch_size=32,
        learning_rate=3e-3,
        weight_decay=5e-4,
        min_crop_area=0.6,
    ),
    "mobile-versatile-1": Architecture(
        model_type="mobile-versatile-1",
        input_size=64,
        stem_filters=32,
        stem_stride=2,
        stages=(Stage(32, 1), Stage(64, 2, 2), Stage(128, 2, 2), Stage(160, 2, 2)),
        dropout=0.2,
        batch_size=32,
        learning_rate=3e-3,
        weight_decay=5e-4,
        min_crop_area=0.25,
        mirror_average=True,
        inference_size=88,  # 64 × 1.33, to a multiple of 8
    ),
    "mobile-high-accuracy-1": Architecture(
        model_type="mobile-high-accuracy-1",
        input_size=88,
        stem_filters=32,
        stem_stride=2,
        stages=(Stage(32, 1), Stage(64, 2, 2), Stage(128, 2, 2), Stage(256, 2, 2)),
        dropout=0.2,
        batch_size=32,
        learning_rate=3e-3,
        weight_decay=5e-4,
        min_crop_area=0.25,
        mirror_average=True,
        inference_size=120,  # 88 × 1.33, to a multiple of 8
        early_input_size=48,
        early_fraction=0.6,
    ),
    "cloud": Architecture(
        model_type="cloud",
        input_size=128,
        stem_filters=32,
        stem_stride=2,
        stages=(Stage(64, 2), Stage(128, 2, 2), Stage(256, 2, 2), Stage(512, 2)),
        dropout=0.2,
        batch_size=32,
        learning_rate=3e-3,
        weight_decay=5e-4,
        min_crop_area=0.6,
    ),
}
# The largest input side of any type: images are decoded once at (at most) this side.
LARGEST_INPUT = max(a.largest_side for a in ARCHITECTURES.values())


def architecture(model_type: str) -> Architecture:
    """The architecture of a model type; ArchitectureError names the allowed types."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise ArchitectureError(
            f"model_type {model_type!r} is not supported; allowed: {', '.join(MODEL_TYPES)}"
        ) from None


class _Seeds:
    """Explicit seeds for every random initializer and layer of one model, drawn from the
    model's own seed.

    Keras gives an initializer or Dropout layer without a seed one from Python's *global*
    `random` module, which every thread of the process shares (retry jitter, client libraries):
    a draw elsewhere between seeding and building would change the initial weights.
    """

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def next(self) -> int:
        return self._random.randrange(1, 2**31)

    def glorot(self):
        return keras().initializers.GlorotUniform(seed=self.next())


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str, seeds: _Seeds):
    layers = keras().layers
    x = layers.Conv2D(
        filters,
        kernel,
        stride,
        padding="same",
        use_bias=False,
        kernel_initializer=seeds.glorot(),
        name=name,
    )(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def build_model(
    arch: Architecture,
    num_labels: int,
    multilabel: bool,
    input_side: int = 0,
    seed: int = 0,
    mirror_average: bool = False,
):
    """A fresh, untrained Keras model for the architecture, its initial weights and dropout
    drawn from `seed` alone (not from any global random state).

    `input_side` is the side it resizes to (default: the type's largest at inference,
    `Architecture.largest_side`). `mirror_average`
    (for types whose `Architecture.mirror_average` is set, on data whose mirrors keep their
    labels): at inference the pooled features are the mean of the image's and its mirror's.
    """
    k = keras()
    seeds = _Seeds(seed)
    layers = k.layers
    side = input_side or arch.largest_side
    pixels = k.Input(shape=(None, None, 3), dtype="float32", name="pixels")
    x = layers.Resizing(side, side, name="resize")(pixels)
    if mirror_average:
        x = custom_layers()["MirrorPair"](name="mirror_pair")(x)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalise")(x)
    x = _conv_bn_relu(x, arch.stem_filters, 3, arch.stem_stride, "stem", seeds)
    for s, stage in enumerate(arch.stages, start=1):
        for r in range(stage.repeats):
            stride = stage.stride if r == 0 else 1
            x = _conv_bn_relu(x, stage.filters, 3, stride, f"stage{s}_{r + 1}", seeds)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if mirror_average:
        x = custom_layers()["PairMean"](name="mirror_mean")(x)
    return _with_head(pixels, x, arch, num_labels, multilabel, seeds)


_CUSTOM_LAYERS: dict[str, type] = {}


def custom_layers() -> dict[str, type]:
    """This module's own Keras layers by name, registered for loading `.keras` files.

    Defined on first use: Keras is imported lazily (tf_setup). `load_model` calls this.
    - MirrorPair: at inference, a batch of N images becomes 2N — the images, then their
      horizontal mirrors; in training it passes the batch through.
    - PairMean: at inference, the mean of a 2N batch's halves (image and mirror); in training
      it passes the batch through.
    Both are stateless, so the converter folds them into TF Lite's own ops (REVERSE_V2,
    CONCATENATION, slices and a mean).
    """
    if _CUSTOM_LAYERS:
        return _CUSTOM_LAYERS
    k = keras()
    ops = k.ops
    layer: Any = k.layers.Layer  # Keras is untyped: its base class is Any to mypy

    @k.saving.register_keras_serializable(package="edge_labeler")
    class MirrorPair(layer):
        def call(self, x, training=None):
            if training:
                return x
            return ops.concatenate([x, ops.flip(x, axis=2)], axis=0)

    @k.saving.register_keras_serializable(package="edge_labeler")
    class PairMean(layer):
        def call(self, x, training=None):
            if training:
                return x
            half = ops.shape(x)[0] // 2
            return (x[:half] + x[half:]) / 2.0

    _CUSTOM_LAYERS.update(MirrorPair=MirrorPair, PairMean=PairMean)
    return _CUSTOM_LAYERS


def load_model(path: Path):
    """A `.keras` file written by this engine (its own layers included), uncompiled."""
    return keras().models.load_model(path, custom_objects=custom_layers(), compile=False)


def core_of(model):
    """The part of a model after its top-level `resize` layer (the model itself if none).

    It shares the model's weights and takes `[batch, side, side, 3]` pixels 0–255.
    """
    k = keras()
    try:
        resize = model.get_layer("resize")
    except ValueError:
        return model
    return k.Model(resize.output, model.output, name=f"{model.name}_core")


def any_side_core(model):
    """What follows a model's top-level `resize` layer, as a model that takes
    `[batch, H, W, 3]` pixels 0–255 of any H×W (`core_of`'s input is fixed at the resize side).

    The training steps feed random crops at the training side, which is smaller than the side
    the model resizes to where the type has an `inference_size`. It shares the model's layers
    and weights (`get_weights` lists them in the same order). The layers after `resize` must be
    a chain, as build_model makes them; a model without `resize` is returned as it is.
    """
    k = keras()
    try:
        resize = model.get_layer("resize")
    except ValueError:
        return model
    following = model.layers[model.layers.index(resize) + 1 :]
    previous = resize
    for layer in following:
        if layer._inbound_nodes[0].input_tensors[0] is not previous.output:
            raise ArchitectureError(f"{model.name}: the layers after resize are not a chain")
        previous = layer
    pixels = k.Input(shape=(None, None, 3), dtype="float32", name="pixels_any_side")
    x = pixels
    for layer in following:
        x = layer(x)
    return k.Model(pixels, x, name=f"{model.name}_any_side")


def input_side_of(model) -> int | None:
    """The side a model resizes its input to (its `resize` layer, or a fixed input)."""
    return _resize_size(model) or _fixed_size(model.inputs[0].shape)


def _with_head(
    pixels, features, arch: Architecture, num_labels: int, multilabel: bool, seeds: _Seeds
):
    k = keras()
    x = k.layers.Dropout(arch.dropout, seed=seeds.next(), name="head_dropout")(features)
    scores = k.layers.Dense(
        num_labels,
        activation="sigmoid" if multilabel else "softmax",
        kernel_initializer=seeds.glorot(),
        name="scores",
    )(x)
    return k.Model(pixels, scores, name=arch.model_type.replace("-", "_"))


def build_transfer_model(
    base_model_path: Path,
    arch: Architecture,
    num_labels: int,
    multilabel: bool,
    side: int = 0,
    seed: int = 0,
) -> tuple[object, int]:
    """A model that reuses a base model's features with a new head; returns (model, input size).

    `.keras` files (for instance the `model.keras` this engine writes) are fine-tuned whole:
    everything up to the input of their last Dense layer becomes the trunk, at the base's own
    input side. A SavedModel directory is used as a frozen feature extractor through its
    `serving_default` signature, at `side` (default: the type's largest). Either way the base
    must take RGB pixels 0–255 float32, like this engine's models.
    """
    k = keras()
    path = Path(base_model_path)
    pixels = k.Input(shape=(None, None, 3), dtype="float32", name="pixels")
    if path.is_file() and path.suffix == ".keras":
        try:
            base = load_model(path)
        except Exception as exc:  # Keras raises many types for unreadable files
            raise ArchitectureError(f"base model {path}: cannot be loaded as Keras: {exc}") from exc
        dense = [layer for layer in base.layers if isinstance(layer, k.layers.Dense)]
        if not dense:
            raise ArchitectureError(
                f"base model {path}: has no Dense layer to replace; a classifier model is needed"
            )
        trunk = k.Model(base.inputs, dense[-1].input, name="base")
        size = input_side_of(base) or arch.input_size
        x = k.layers.Resizing(size, size, name="resize")(pixels)
        features = trunk(x)
    elif path.is_dir() and (path / "saved_model.pb").is_file():
        layer = k.layers.TFSMLayer(str(path), call_endpoint="serving_default", trainable=False)
        size = side or arch.input_size
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
    head = _with_head(pixels, features, arch, num_labels, multilabel, _Seeds(seed))
    return head, size


def _resize_size(model) -> int | None:
    k = keras()
    for layer in model.layers:
        if isinstance(layer, k.layers.Resizing):
            return int(layer.height)
    return None


def _fixed_size(shape) -> int | None:
    height, width = shape[1], shape[2]
    return int(height) if height is not None and height == width else None
