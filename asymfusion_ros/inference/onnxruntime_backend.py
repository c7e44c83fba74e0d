"""ONNX Runtime backend: the bundle's graph as is (pre/post-processing inside), CUDA EP or CPU.

No torch here: this is the path of a robot without a GPU-enabled torch (and of the tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asymfusion_ros.inference.base import check_inputs, label_dtype
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.model_bundle import INPUT_NAMES, OUTPUT_NAMES, read_onnx_info

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def execution_providers(device: int = 0) -> list[str | tuple[str, dict]]:
    """The providers a session tries, in order: CUDA on ``device`` where this onnxruntime has it, CPU."""
    import onnxruntime as ort

    providers: list[str | tuple[str, dict]] = [CPU_PROVIDER]
    if CUDA_PROVIDER in ort.get_available_providers():
        providers.insert(0, (CUDA_PROVIDER, {"device_id": device}))
    return providers


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` over an asymfusion_ros ONNX bundle."""

    name = "onnxruntime"

    def __init__(self, path: Path, *, device: int = 0, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = path
        self.info = read_onnx_info(path)
        self.input_size = self.info.input_size
        self.classes = self.info.classes
        self._label_dtype = label_dtype(self.classes)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads would busy-wait after each run; on a 2-core robot CPU they then
        # steal the cores from the point cloud and ROS callbacks that follow (measured: point
        # cloud 3.9 -> 7.9 ms p50 with spinning, no gain in inference time).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=execution_providers(device))
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f"ONNX Runtime could not load {path}: {err}") from err
        self.provider = self._session.get_providers()[0]
        names = tuple(i.name for i in self._session.get_inputs())
        if names != INPUT_NAMES:
            raise BackendError(f"{path} has inputs {names}, expected {INPUT_NAMES}")
        self._threads = threads

    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_inputs(rgb, depth_m, self.input_size)
        feeds = {"rgb": np.ascontiguousarray(rgb)[None], "depth": np.ascontiguousarray(depth_m)[None]}
        labels, confidence = self._session.run(list(OUTPUT_NAMES), feeds)
        return labels[0].astype(self._label_dtype), confidence[0]

    def describe(self) -> str:
        threads = f", {self._threads} threads" if self._threads else ""
        return (
            f"onnxruntime {self.provider}{threads}, fp32, input {self.input_size[0]}x{self.input_size[1]}, "
            f"{len(self.classes)} classes ({self.classes.name}), {self.path.name}"
        )
