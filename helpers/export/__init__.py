"""From PyTorch to ONNX: the exporters, exporter experiments, pre/post-processing built into the graph."""
