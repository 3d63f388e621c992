"""The one place that configures TensorFlow: log noise, thread counts, determinism, seeds.

Every module that needs TensorFlow calls `tensorflow()` (or `keras()`) instead of importing it,
so the environment variables below are set before TensorFlow's C++ runtime first loads and the
thread pools are sized before the first op runs. LiteRT (`ai_edge_litert`) shares TensorFlow's
C++ logging, so `quiet_native_logs()` is also what the predictor calls before it loads a model.
"""

import contextlib
import logging
import os
import random
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType

# Environment read by TensorFlow / LiteRT / absl native code at load time.
_LOG_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # C++ INFO, WARNING and ERROR lines off
    "TF_CPP_MAX_VLOG_LEVEL": "-1",
    "GLOG_minloglevel": "3",
    "ABSL_MIN_LOG_LEVEL": "3",
    "ABSL_STDERRTHRESHOLD": "3",
    "GRPC_VERBOSITY": "ERROR",
    # oneDNN's kernels: a training step of versatile on the bench's photos runs 1.6-1.7 times
    # as fast as with TensorFlow's own (10 epochs: 7.7 / 8.4 s against 13.8 / 12.6 s, paired,
    # quiet 2-core machine, 2026-12-04), so a budget pays for that many more epochs. Weights
    # stay reproducible on one machine (op determinism: the same seed and data gave the same
    # .tflite bytes twice); they differ from those of TensorFlow's own kernels, and may differ
    # between CPUs of other instruction sets. Its banner at import is filtered (_configure).
    "TF_ENABLE_ONEDNN_OPTS": "1",
}

# Two cores: one pool of both cores inside ops, ops run one at a time.
INTRA_OP_THREADS = 2
INTER_OP_THREADS = 1

_lock = threading.Lock()
# Serialises TensorFlow-heavy work (training, conversion): Keras' global state (session, seeds)
# is per process, and two jobs on 2 cores are no faster than one after the other.
_work_lock = threading.RLock()
_stderr_lock = threading.RLock()  # native_logs_filtered blocks may nest
_tf: ModuleType | None = None

# Lines that TensorFlow's converter and LiteRT write straight to file descriptor 2 from C++
# (absl logging before InitializeLog, TFLite's minimal logger), whatever TF_CPP_MIN_LOG_LEVEL
# says. Everything else written meanwhile is passed through.
_NATIVE_NOISE = re.compile(
    r"^(?:[IW]\d{4} |INFO: |WARNING: All log messages before absl::InitializeLog"
    r"|fully_quantize: |Estimated count of arithmetic ops"
    r"|WARNING: Logging before InitGoogleLogging)"
)


def quiet_native_logs() -> None:
    """Sets the log environment variables (without overriding what the user already set)."""
    for key, value in _LOG_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def native_logs_filtered() -> Iterator[None]:
    """Runs a block with fd 2 captured, then re-emits what was not native INFO/WARNING noise.

    Needed around TF Lite conversion and the first LiteRT interpreter of a process: their C++
    code prints informational lines that no environment variable turns off. Lossless for
    everything else (errors, Python output), only delayed to the end of the block.
    """
    with _stderr_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [
                    line
                    for line in capture.read().decode("utf-8", "replace").splitlines(True)
                    if not _NATIVE_NOISE.match(line)
                ]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()


def tensorflow() -> ModuleType:
    """The configured `tensorflow` module (imported and set up on first call)."""
    global _tf
    with _lock:
        if _tf is None:
            _tf = _configure()
        return _tf


def tf_lock() -> threading.RLock:
    """The lock that training and model conversion hold while they use TensorFlow."""
    return _work_lock


def keras() -> ModuleType:
    """The configured `keras` module (Keras 3 on the TensorFlow backend)."""
    tensorflow()
    import keras as keras_module

    return keras_module


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras from one integer."""
    tensorflow()
    random.seed(seed)
    keras().utils.set_random_seed(seed)


def _configure() -> ModuleType:
    quiet_native_logs()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", module=r"tensorflow(\..*)?")
    warnings.filterwarnings("ignore", module=r"keras(\..*)?")
    with native_logs_filtered():  # oneDNN's "custom operations are on" lines, from C++
        import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; tolerate its absence anyway
        pass
    try:
        tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:
        # Someone ran an op before us (the runtime is initialised): keep its settings.
        pass
    import keras as keras_module

    keras_module.utils.disable_interactive_logging()
    # Op determinism refuses random ops without a seed: start from a fixed one; every
    # training reseeds with its own through seed_everything().
    keras_module.utils.set_random_seed(0)
    return tf
