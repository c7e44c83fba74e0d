"""The ONNX graph as TensorRT's parser gets it, read with ``onnx`` only (no tensorrt import).

A single-modality bundle keeps both camera inputs (the bundle format is one for all models),
so one of ``rgb``/``depth`` feeds no node. Whether TensorRT accepts an *unused* UINT8 input
(its rule is that a UINT8 network input must feed a Cast) is untested, so the question is
avoided: unused inputs are removed from the graph handed to the parser, and the engine has
only the inputs the network reads (the backend asks the engine which those are).
"""

from __future__ import annotations

from pathlib import Path

import onnx


def input_shapes(onnx_path: Path) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(name, static shape) of every graph input, in graph order (weights are not loaded)."""
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return tuple((i.name, tuple(int(d.dim_value) for d in i.type.tensor_type.shape.dim)) for i in graph.input)


def without_unused_inputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """A copy of ``model`` without the graph inputs no node (or graph output) reads, and their names."""
    graph = model.graph
    # No If/Loop subgraphs to look into: onnx_checks.py keeps them out of a bundle.
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    unused = tuple(i.name for i in graph.input if i.name not in used)
    if not unused:
        return model, ()
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    kept = [i for i in pruned.graph.input if i.name not in unused]
    del pruned.graph.input[:]
    pruned.graph.input.extend(kept)
    return pruned, unused


def parser_bytes(onnx_path: Path) -> tuple[bytes, tuple[str, ...]]:
    """The serialized graph TensorRT parses for ``onnx_path`` (unused inputs removed), and those removed."""
    model, unused = without_unused_inputs(onnx.load(str(onnx_path)))
    return (onnx_path.read_bytes() if not unused else model.SerializeToString()), unused
