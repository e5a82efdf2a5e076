"""Reading and repairing ONNX files: checks, pictures, intermediate outputs, bisection."""
