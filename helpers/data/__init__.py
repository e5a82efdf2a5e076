"""Data the course runs on offline: sample photos, the digits, decoding images, labels."""
