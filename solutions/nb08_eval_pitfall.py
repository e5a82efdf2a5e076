"""Notebook 08 exercise: the smallest batch at which train mode comes close to eval mode."""

from __future__ import annotations

import copy

import torch
from torch import nn

from helpers.models.course import accuracy, load_or_train_course_model

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
MARGIN = 0.01  # one percentage point


def train_mode_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> int:
    """Correct predictions of a train-mode copy of ``model`` fed ``batch_size`` images at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    net = copy.deepcopy(model).train()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = net(x[start:start + batch_size])
            correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    return correct


def exercise(x: torch.Tensor, y: torch.Tensor) -> int | None:
    """Smallest batch size in ``BATCH_SIZES`` whose train-mode accuracy on ``x``, ``y`` (the
    notebook's test digits) is within 1 point of the eval-mode accuracy on the same digits."""
    course = load_or_train_course_model(progress=False)
    eval_accuracy = accuracy(course.model, x, y)
    for batch_size in BATCH_SIZES:
        if train_mode_correct(course.model, x, y, batch_size) / len(x) >= eval_accuracy - MARGIN:
            return batch_size
    return None
