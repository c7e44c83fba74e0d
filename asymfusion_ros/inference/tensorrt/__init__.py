"""TensorRT: engine build and cache, INT8 calibration, CUDA memory; imported only when chosen."""
