"""Torch-free classification from the command line: only onnxruntime, numpy and Pillow.

    python -m helpers.classify IMAGE [IMAGE ...] --model MODEL.onnx [--topk 5] [--labels imagenet|digits]

An all-in-one file (``helpers.export.pipeline``: uint8 image in, top-k out) is recognised from its
metadata or its input and gets the decoded pixels as they are: no preprocessing here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from helpers.data.images import ImageReadError, load_image, preprocess_digit, preprocess_imagenet
from helpers.data.labels import format_top_k, labels_for, softmax, top_k
from helpers.graph.checks import InvalidModelError
from helpers.runtime.pipeline import classify_pixels, is_pipeline, pipeline_classes, pipeline_k
from helpers.runtime.sessions import InputValidationError, create_session, input_specs, run


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.classify",
        description="Classify images with an ONNX model in ONNX Runtime (no PyTorch needed).",
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, ...)")
    parser.add_argument("--model", required=True, type=Path, help="path to the .onnx file")
    parser.add_argument("--topk", type=int, default=5, help="how many classes to print (default 5)")
    parser.add_argument("--labels", choices=("imagenet", "digits"), default="imagenet",
                        help="class names and preprocessing: imagenet (224x224) or digits (64x64)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="ORT intra-op threads (default: ORT picks one per core)")
    return parser


def classify(image_path: Path, session, labels: str, k: int, all_in_one: bool = False) -> list:
    """Top-k predictions for one image file."""
    image = load_image(image_path)
    if all_in_one:  # the file resizes, normalises and picks the top k itself
        return classify_pixels(session, image, labels_for(labels), k)
    if labels == "digits":
        size = input_specs(session)[0].shape[-1]
        batch = preprocess_digit(image, size=size if isinstance(size, int) else 64)
    else:
        batch = preprocess_imagenet(image)
    logits = run(session, batch, nonfinite="error")[0]
    return top_k(softmax(logits[0]), labels_for(labels), k)


def layout_problem(session) -> str | None:
    """Why this classifier's input is not the NCHW float batch this command feeds, or None.

    The command sends ``[1, 3, H, W]`` float32; a channels-last ``[N, H, W, 3]`` input (fixed
    or dynamic) would get a meaningless tensor, so it is refused with the axis that is wrong.
    """
    spec = input_specs(session)[0]
    shape = list(spec.shape)
    if spec.dtype != np.float32 or len(shape) != 4:
        return (f"input {spec.describe()}: expected a float32 batch [N, 3, H, W] (or an "
                "all-in-one file that takes uint8 pixels)")
    if shape[1] == 3:
        return None
    looks_nhwc = shape[3] == 3
    return (f"input {spec.describe()}: axis 1 is {shape[1]!r} where this command puts the 3 "
            "colour channels (NCHW)" + ("; the file looks channels-last (NHWC): export it "
                                        "channels-first or put a Transpose in the graph"
                                        if looks_nhwc else ""))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = labels_for(args.labels)
    if not 1 <= args.topk <= len(names):
        parser.error(f"--topk must be between 1 and {len(names)} for {args.labels} labels")
    try:
        session = create_session(args.model, threads=args.threads)
    except (FileNotFoundError, InvalidModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    all_in_one = is_pipeline(session)
    problem = None if all_in_one else layout_problem(session)
    if problem:
        print(f"error: {args.model.name}: {problem}", file=sys.stderr)
        return 2
    classes = pipeline_classes(session) if all_in_one else session.get_outputs()[0].shape[-1]
    if isinstance(classes, int) and classes != len(names):
        print(f"error: {args.model.name} outputs {classes} classes but --labels {args.labels} "
              f"has {len(names)}; pick the matching --labels", file=sys.stderr)
        return 2
    if session.get_modelmeta().custom_metadata_map.get("weights") == "random":
        print(f"warning: {args.model.name} was exported with RANDOM weights; its labels below "
              "mean nothing", file=sys.stderr)
    topk = args.topk
    if all_in_one and pipeline_k(session) is not None and pipeline_k(session) < topk:
        topk = pipeline_k(session)
        print(f"note: {args.model.name} returns its top {topk} classes; showing {topk}",
              file=sys.stderr)
    status = 0
    for image_path in args.images:
        try:
            predictions = classify(image_path, session, args.labels, topk, all_in_one)
        except (FileNotFoundError, ImageReadError, InputValidationError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{image_path.name}:")
        print("  " + format_top_k(predictions).replace("\n", "\n  "))
    return status


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
