"""Checks that an exported artifact is a TF Lite model an app can load (with LiteRT)."""

from dataclasses import dataclass

import numpy as np
from ai_edge_litert.interpreter import Interpreter


@dataclass(frozen=True)
class TfliteInfo:
    input_shape: tuple[int, ...]
    input_type: str  # "float32" | "uint8" | "int8"
    outputs: int  # scores per image


def inspect_tflite(data: bytes, name: str = "model.tflite") -> TfliteInfo:
    """Loads the flatbuffer and runs it once on a blank image; ValueError when it cannot."""
    try:
        interpreter = Interpreter(model_content=data, num_threads=1)
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
        interpreter.invoke()
        scores = interpreter.get_tensor(out["index"])
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} is not a loadable TF Lite model ({exc})") from None
    return TfliteInfo(
        input_shape=tuple(int(d) for d in inp["shape"]),
        input_type=np.dtype(inp["dtype"]).name,
        outputs=int(scores.shape[-1]),
    )
