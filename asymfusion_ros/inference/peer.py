"""A peer network timed beside ours (``asymfusion bench --peer FILE.onnx``).

Any ONNX file with static input shapes (ESANet's ``model_to_onnx.py`` export, say) runs in
ONNX Runtime with the session options of our own backend, fed zeros of its declared shapes:
only its latency is wanted, so a user can reproduce a speed ratio against a network of their
choice with their own export. ONNX Runtime only, no torch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from asymfusion_ros.inference.errors import BackendError

ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


class PeerModel:
    """An ONNX Runtime session over ``path`` with zero inputs; ``run_ms`` times one inference."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = path
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as our backend
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            raise BackendError(f"ONNX Runtime could not load peer model {path}: {err}") from err
        self.feeds = {}
        for value in self._session.get_inputs():
            if not all(isinstance(d, int) and d > 0 for d in value.shape):
                raise BackendError(
                    f"peer model {path} input {value.name!r} has shape {value.shape}: "
                    "export it with static shapes"
                )
            if value.type not in ORT_DTYPES:
                raise BackendError(
                    f"peer model {path} input {value.name!r} has unsupported type {value.type}"
                )
            self.feeds[value.name] = np.zeros(value.shape, ORT_DTYPES[value.type])
        self._threads = threads

    def run_ms(self) -> float:
        """One inference, in milliseconds."""
        start = time.perf_counter()
        self._session.run(None, self.feeds)
        return (time.perf_counter() - start) * 1e3

    def describe(self) -> str:
        shapes = ", ".join(f"{name} {list(array.shape)}" for name, array in self.feeds.items())
        threads = f", {self._threads} threads" if self._threads else ""
        return f"peer {self.path.name}: onnxruntime CPUExecutionProvider{threads}, inputs {shapes}"
