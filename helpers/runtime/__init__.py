"""Running ONNX files without PyTorch: ORT sessions, the all-in-one pipeline, quantization, OpenVINO."""
