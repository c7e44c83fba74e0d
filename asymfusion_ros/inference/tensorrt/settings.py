"""Which TensorRT is supported, and what its builder is asked to do for each precision, as plain data.

TensorRT 8.5 (JetPack 5.1) is the floor: earlier parsers refuse the bundle's UINT8 ``rgb``
input, and 8.5 brought the named-tensor API (``ICudaEngine.num_io_tensors``, ...) the backend
uses, which is how :func:`tensorrt_supported` tells.

The flags are named by their ``tensorrt.BuilderFlag`` member names, so this module needs no
``import tensorrt``: the backend looks each name up on the real enum, the engine key records
:meth:`BuilderSettings.describe`, and tests check the choice on any machine.

* ``fp32`` clears ``TF32``, which TensorRT enables by default (IBuilderConfig docs, 8.5 to
  10.x): on Ampere/Orin/Hopper convolutions would otherwise round inputs to 10-bit mantissas,
  which is not the FP32 a parity check or a user asking for ``fp32`` expects.
* ``fp16`` sets ``FP16``; ``int8`` sets ``INT8`` and ``FP16`` (the layers left unquantised run
  in FP16 rather than FP32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asymfusion_ros.inference.base import Precision

WORKSPACE_BYTES = 1 << 30
TENSORRT_FLOOR = "8.5"


def tensorrt_supported(trt: Any) -> bool:
    """True for an imported ``tensorrt`` module of release 8.5 or newer."""
    return hasattr(trt.ICudaEngine, "num_io_tensors")


def below_floor(trt: Any) -> str | None:
    """Why an imported ``tensorrt`` module is too old for this package, or None when it is not
    (the words of ``auto``'s choice and of ``asymfusion doctor``)."""
    if tensorrt_supported(trt):
        return None
    found = getattr(trt, "__version__", "of unknown version")
    return f"TensorRT {found} is older than the {TENSORRT_FLOOR} floor"


@dataclass(frozen=True)
class BuilderSettings:
    """Builder flags to set and to clear (``BuilderFlag`` member names) and the workspace limit."""

    precision: Precision
    set_flags: tuple[str, ...]
    clear_flags: tuple[str, ...]
    workspace_bytes: int = WORKSPACE_BYTES

    def describe(self) -> str:
        """A stable one-line form for the engine key: ``fp32 +FLAG -FLAG workspace=N``."""
        flags = [f"+{f}" for f in self.set_flags] + [f"-{f}" for f in self.clear_flags]
        return " ".join([self.precision.value, *flags, f"workspace={self.workspace_bytes}"])


def builder_settings(precision: Precision, workspace_bytes: int = WORKSPACE_BYTES) -> BuilderSettings:
    """The settings of a ``precision`` build (see the module docstring)."""
    if workspace_bytes <= 0:
        raise ValueError(f"workspace_bytes must be > 0, got {workspace_bytes}")
    flags = {
        Precision.FP32: ((), ("TF32",)),
        Precision.FP16: (("FP16",), ()),
        Precision.INT8: (("FP16", "INT8"), ()),
    }[precision]
    return BuilderSettings(precision, *flags, workspace_bytes=workspace_bytes)
