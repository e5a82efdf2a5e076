"""The PyTorch models: ImageNet classifiers, the digits course model, super-resolution, the detector."""
