"""A trained network to a self-describing ONNX bundle, checked for ONNX Runtime and TensorRT."""
