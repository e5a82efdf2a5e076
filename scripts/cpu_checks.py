"""The course's CPU-dependent findings, checked on this CPU or on an emulated one.

    python scripts/cpu_checks.py prepare                 # natively: files + reference logits
    python scripts/cpu_checks.py check                   # natively
    qemu-x86_64 -cpu Haswell .venv/bin/python scripts/cpu_checks.py check   # AVX2 only

``prepare`` exports the course model, quantizes it to INT8 (QDQ, U8S8; per-channel and
per-tensor; calibrated on validation digits) and saves FP32/INT8 logits for the first test
digits. ``check`` (needs no PyTorch, so it runs under QEMU's user-mode emulation in minutes)
describes the CPU as the libraries see it, says what to expect on it (ORT's INT8 kernel,
OpenVINO's default precision), runs the same files in ORT and compares with the native
logits, and, where the ``onnxruntime-ep-openvino`` plugin offers a device (Intel CPUs, so
also an emulated Haswell), the FP32 and INT8 files through ORT's API on OpenVINO: decisions
and correctness, never timings (emulated timings mean nothing). ``make cpu-checks`` runs prepare, check natively, then check on an emulated Haswell.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.paths import artifacts_dir, relative  # noqa: E402

FOLDER = artifacts_dir("cpu_checks")
DIGITS = 120  # test digits compared; enough to see a flipped prediction, quick under QEMU
VARIANTS = ("fp32", "int8_per_channel", "int8_per_tensor")


def prepare() -> None:
    """Natively, with PyTorch: the three files and their logits on this machine."""
    from helpers.data.datasets import load_digits_splits
    from helpers.data.images import preprocess_digit
    from helpers.models.course import export_course_model
    from helpers.runtime.quantization import QuantRecipe, digits_calibration_reader, quantize_int8
    from helpers.runtime.sessions import create_session, run

    fp32 = export_course_model(FOLDER)
    files = {"fp32": fp32}
    for name, per_channel in (("int8_per_channel", True), ("int8_per_tensor", False)):
        target = FOLDER / f"course_{name}.onnx"
        if not target.exists():
            quantize_int8(fp32, target, digits_calibration_reader(fp32, 128),
                          QuantRecipe(per_channel=per_channel))
        files[name] = target
    splits = load_digits_splits()
    x = preprocess_digit(splits.x_test[:DIGITS])
    logits = {name: run(create_session(path, threads=1), x)[0] for name, path in files.items()}
    np.savez(FOLDER / "native.npz", x=x, y=splits.y_test[:DIGITS], **logits)
    (FOLDER / "files.json").write_text(json.dumps({k: str(v) for k, v in files.items()}))
    print(f"prepared {', '.join(relative(p) for p in files.values())} and native logits")


def check(label: str) -> dict:
    """Without PyTorch: the machine, what to expect on it, and ORT's answers against native."""
    from helpers.expectations import (
        openvino_precision,
        openvino_reported_precision,
        ort_int8_kernel,
    )
    from helpers.machine import describe_machine

    if not (FOLDER / "native.npz").exists():
        raise SystemExit("run 'python scripts/cpu_checks.py prepare' natively first")
    machine = describe_machine()
    files = json.loads((FOLDER / "files.json").read_text())
    native = np.load(FOLDER / "native.npz")
    x, y = native["x"], native["y"]
    kernel, ov = ort_int8_kernel(machine), openvino_precision(machine)
    report = {"label": label, "cpu_class": machine.cpu_class,
              "ort_int8_kernel_expected": kernel.key, "int8_saturates": kernel.saturates,
              "openvino_expected": ov.key, "openvino_reported": openvino_reported_precision(),
              "variants": {}}
    here = {}
    for name in VARIANTS:
        here[name] = logits = run_file(files[name], x)
        report["variants"][name] = {
            "max |Δ logits| vs native": float(np.abs(logits - native[name]).max()),
            "top-1 flips vs native": int((logits.argmax(1) != native[name].argmax(1)).sum()),
            "accuracy": float((logits.argmax(1) == y).mean()),
            "agreement with fp32 here": float((logits.argmax(1) == here["fp32"].argmax(1)).mean())}
    # ORT's precise U8U8 path for AVX2 and AVX-512 without VNNI ("session.x64quantprecision",
    # kOrtSessionOptionsAvx2PrecisionMode): how far the default U8S8 answer is from it here
    for name in VARIANTS[1:]:
        precise = run_file(files[name], x, {"session.x64quantprecision": "1"})
        report["variants"][name]["max |Δ logits| default vs x64quantprecision"] = float(
            np.abs(precise - here[name]).max())
    report["openvino_ep"] = plugin_check(files, x, y, here)
    return report


def plugin_check(files: dict[str, str], x: np.ndarray, y: np.ndarray,
                 here: dict[str, np.ndarray]) -> dict:
    """The FP32 and per-channel INT8 files through ORT + the OpenVINO EP plugin (f32 hint,
    1 thread, both set through ``load_config``), against ORT's CPU provider on this CPU."""
    from helpers.runtime import openvino_ep

    state = openvino_ep.plugin_state()
    result: dict = {"plugin": state.version, "devices": list(state.devices), "why not": state.reason}
    for name in () if state.reason else ("fp32", "int8_per_channel"):
        session = openvino_ep.create_session(files[name], precision="f32", threads=1)
        logits = session.run(None, {session.get_inputs()[0].name: x})[0]
        result[name] = {"providers": session.get_providers()[0],
                        "max |Δ logits| vs ORT CPU": float(np.abs(logits - here[name]).max()),
                        "agreement with ORT CPU": float((logits.argmax(1) == here[name].argmax(1)).mean()),
                        "accuracy": float((logits.argmax(1) == y).mean())}
    return result


def run_file(path: str, x: np.ndarray, config: dict[str, str] | None = None) -> np.ndarray:
    """One ORT CPU session on ``path`` (1 thread, optional config entries), run on ``x``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _figures(row: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def show(report: dict) -> None:
    print(f"{report['label']}: {report['cpu_class']}")
    print(f"  ORT INT8 kernel expected: {report['ort_int8_kernel_expected']} "
          f"(saturating 16-bit steps: {report['int8_saturates']})")
    print(f"  OpenVINO default precision: expected {report['openvino_expected']}, "
          f"reported {report['openvino_reported']}")
    for name, row in report["variants"].items():
        print(f"  {name:17s} {_figures(row)}")
    plugin = report["openvino_ep"]
    print(f"  ORT + OpenVINO EP plugin {plugin['plugin'] or '(not installed)'}: devices "
          f"{plugin['devices'] or 'none'}" + (f"; {plugin['why not']}" if plugin["why not"] else ""))
    for name in ("fp32", "int8_per_channel"):
        if name in plugin:
            print(f"    {name:17s} {_figures(plugin[name])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("prepare", "check"))
    parser.add_argument("--label", default="this CPU")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare()
        return 0
    report = check(args.label)
    show(report)
    name = "".join(c if c.isalnum() else "_" for c in args.label.lower()).strip("_")
    (FOLDER / f"check_{name}.json").write_text(json.dumps(report, indent=1))
    fp32 = report["variants"]["fp32"]
    if fp32["top-1 flips vs native"]:  # float32 answers must not depend on the CPU's ISA
        print("FP32 predictions changed with the CPU: not expected", file=sys.stderr)
        return 1
    plugin_fp32 = report["openvino_ep"].get("fp32")
    if plugin_fp32 and plugin_fp32["agreement with ORT CPU"] < 1:  # same f32 arithmetic
        print("the OpenVINO EP plugin's FP32 answers differ from ORT's: not expected", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
