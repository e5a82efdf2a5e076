"""Seeing and debugging ONNX graphs: pictures (Netron or graphviz) and layer-by-layer comparison."""

from __future__ import annotations

import contextlib
import gc
import html
import io
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

SCALE = 2  # device pixels per CSS pixel in Netron captures (sharp text)


# Before the screenshot: hide Netron's zoom toolbar and menu button, and draw its shape
# brackets (U+3008/3009, absent from common Linux fonts) as U+27E8/27E9, which DejaVu has.
HIDE_CONTROLS_AND_FIX_BRACKETS = """
for (const id of ['toolbar', 'menu-button']) {
    const element = document.getElementById(id);
    if (element) { element.style.display = 'none'; }
}
const walker = document.createTreeWalker(document.getElementById('canvas'), NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
    const text = walker.currentNode;
    text.nodeValue = text.nodeValue.replace(/\u3008/g, '\u27e8').replace(/\u3009/g, '\u27e9');
}
"""


class RendererMissingError(RuntimeError):
    """No graph renderer is available on this machine (says what to install)."""


@dataclass(frozen=True)
class Picture:
    """A rendered graph picture and the tool that drew it."""

    path: Path
    renderer: str  # "netron" or "graphviz"

    @property
    def display_width(self) -> int:
        """Width to show it at: Netron's captures are taken at 2 device pixels per CSS pixel."""
        from PIL import Image

        with Image.open(self.path) as image:
            return image.width // (SCALE if self.renderer == "netron" else 1)


# ---------------------------------------------------------------- graphviz (light) --------
def to_dot(model: onnx.ModelProto, show_initializers: bool = False) -> str:
    """A DOT description of ``model``'s graph: one box per node, one arrow per tensor."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    producer = {out: f"n{i}" for i, node in enumerate(graph.node) for out in node.output}
    lines = ["digraph onnx {", "  rankdir=TB; node [fontname=Helvetica, fontsize=11];"]
    for value in graph.input:
        if value.name not in initializers:
            lines.append(f'  "in:{value.name}" [label="{html.escape(value.name)}", shape=oval, '
                         'style=filled, fillcolor="#e8e8e8"];')
    for i, node in enumerate(graph.node):
        label = node.op_type
        weights = [name for name in node.input if name in initializers]
        if weights and not show_initializers:
            label += "\\n" + "\\n".join(html.escape(w) for w in weights[:2])
        lines.append(f'  n{i} [label="{label}", shape=box, style="rounded,filled", fillcolor="#dbe9f6"];')
        for name in node.input:
            if not name or (name in initializers and not show_initializers):
                continue
            source = producer.get(name, f"in:{name}")
            lines.append(f'  "{source}" -> n{i} [label="{html.escape(name)}", fontsize=8];')
    for value in graph.output:
        lines.append(f'  "out:{value.name}" [label="{html.escape(value.name)}", shape=oval, '
                     'style=filled, fillcolor="#e8e8e8"];')
        lines.append(f'  "{producer.get(value.name, "in:" + value.name)}" -> "out:{value.name}";')
    lines.append("}")
    return "\n".join(lines)


def graphviz_png(model: onnx.ModelProto | str | Path, out_png: str | Path) -> Path:
    """Draw ``model`` with graphviz's ``dot``; raises ``RendererMissingError`` without it."""
    dot = shutil.which("dot")
    if dot is None:
        raise RendererMissingError("graphviz is not installed (apt-get install graphviz)")
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    out_png = Path(out_png)
    subprocess.run([dot, "-Tpng", "-Gdpi=80", "-o", str(out_png)], input=to_dot(model),
                   text=True, check=True, capture_output=True, timeout=60)
    return out_png


# ---------------------------------------------------------------- Netron (what learners see) --
def netron_png(path: str | Path, out_png: str | Path, size: tuple[int, int] = (700, 1100),
               timeout: float = 40.0) -> Path:
    """Netron's own drawing of ``path``: served on 127.0.0.1, captured by headless Chromium.

    The browser may reach 127.0.0.1 only (Netron's update check and telemetry go nowhere).
    Raises ``RendererMissingError`` when Netron, Selenium or Chromium is missing, or when the
    page shows no graph within ``timeout`` seconds.
    """
    try:
        import netron
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise RendererMissingError(f"Netron capture needs netron and selenium ({error.name} missing)") from error
    from helpers.doctor import TOOLS, find_browser, find_chromedriver, install_system

    browser, chromedriver = find_browser(), find_chromedriver()
    if not (browser and chromedriver):
        how = "; ".join(TOOLS[tool].install[install_system()] for tool, found in
                        (("chromium", browser), ("chromedriver", chromedriver)) if not found)
        raise RendererMissingError(f"Netron capture needs Chromium and chromedriver on PATH: {how}")
    out_png = Path(out_png)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        address = netron.start(str(path), ("127.0.0.1", 0), browse=False)  # prints the full path
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={size[0]},{size[1]}", f"--force-device-scale-factor={SCALE}",
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        url = f"http://{address[0]}:{address[1]}/"
        # Netron asks once for cookie consent: set its cookie on a small page of the same
        # origin first, so the viewer itself loads only once.
        driver.get(url + "favicon.ico")
        driver.add_cookie({"name": "consent", "value": str(int(time.time() * 1000))})
        driver.get(url)
        deadline = time.monotonic() + timeout
        count = "return document.querySelectorAll('#canvas .node').length"
        while driver.execute_script(count) == 0:
            if time.monotonic() > deadline:
                message = driver.execute_script(
                    "const m = document.getElementById('message-text'); return m ? m.innerText : ''")
                raise RendererMissingError(f"Netron showed no graph within {timeout:.0f} s {message!r}".strip())
            time.sleep(0.25)
        driver.execute_script(HIDE_CONTROLS_AND_FIX_BRACKETS)
        time.sleep(0.5)  # let the layout settle
        driver.save_screenshot(str(out_png))
    finally:
        if driver is not None:
            driver.quit()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            netron.stop(address)
    return crop_to_content(out_png)


def crop_to_content(png: str | Path, margin: int = 12) -> Path:
    """Crop a screenshot to what differs from its background (top-left pixel), in place."""
    from PIL import Image, ImageChops

    png = Path(png)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((0, 0)))
    box = ImageChops.difference(rgb, background).getbbox()
    if box is not None:
        left, top, right, bottom = box
        rgb.crop((max(left - margin, 0), max(top - margin, 0), min(right + margin, rgb.width),
                  min(bottom + margin, rgb.height))).save(png)
    return png


def render_graph(path: str | Path, out_png: str | Path, prefer: str = "netron") -> Picture:
    """A picture of the graph in ``path``: Netron first (``prefer="netron"``), else graphviz.

    Raises ``RendererMissingError`` (one line saying what to install) when neither works.
    """
    reasons = []
    order = ("netron", "graphviz") if prefer == "netron" else ("graphviz", "netron")
    for renderer in order:
        try:
            draw = netron_png if renderer == "netron" else graphviz_png
            return Picture(draw(path, out_png), renderer)
        except RendererMissingError as error:
            reasons.append(str(error))
    raise RendererMissingError("; ".join(reasons))


# ---------------------------------------------------------------- verification -----------
@contextlib.contextmanager
def gc_frozen() -> Iterator[None]:
    """Within the block, garbage collections skip every object that existed before it.

    ``torch.onnx.verification.verify_onnx_program`` frees its ORT session with a full
    ``gc.collect()`` for every value it compares: a few tenths of a second each in a process
    that holds torch, onnx and a notebook's objects. Objects made inside the block are still
    collected; the older ones are back under the collector's care when the block ends.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# ---------------------------------------------------------------- intermediates ----------
def node_outputs(model: onnx.ModelProto) -> list[str]:
    """Every tensor a node writes, in graph (topological) order."""
    return [name for node in model.graph.node for name in node.output if name]


def expose_intermediates(model: onnx.ModelProto, names: Sequence[str] | None = None) -> onnx.ModelProto:
    """A copy of ``model`` whose graph also outputs the tensors ``names`` (default: all)."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    for name in names if names is not None else node_outputs(model):
        if name not in present:
            exposed.graph.output.append(onnx.ValueInfoProto(name=name))  # type left to ORT
            present.add(name)
    return exposed


def run_intermediates(model: onnx.ModelProto | str | Path, feeds: Mapping[str, np.ndarray],
                      optimization: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                      ) -> dict[str, np.ndarray]:
    """Run ``model`` with every node output exposed; returns {tensor name: value} in graph order.

    Optimisations are off by default: fusions would otherwise differ from the plain model's.
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    exposed = expose_intermediates(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = optimization
    options.log_severity_level = 3
    session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, dict(feeds))
    order = node_outputs(model)
    by_name = dict(zip(names, values, strict=True))
    return {name: by_name[name] for name in order if name in by_name}


def compare_layers(reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray],
                   atol: float = 1e-4, rtol: float = 1e-3):
    """Tensors present in both runs, in the candidate's order: max |Δ| and whether they agree.

    Returns a DataFrame with columns ``tensor``, ``shape``, ``max_abs_diff``, ``agrees``.
    """
    import pandas as pd

    rows = []
    for name, value in candidate.items():
        if name not in reference:
            continue
        want = np.asarray(reference[name])
        got = np.asarray(value)
        if want.shape != got.shape:
            rows.append({"tensor": name, "shape": tuple(got.shape), "max_abs_diff": float("inf"),
                         "agrees": False})
            continue
        diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
        rows.append({"tensor": name, "shape": tuple(got.shape),
                     "max_abs_diff": float(diff.max()) if diff.size else 0.0,
                     "agrees": bool(np.allclose(got, want, rtol=rtol, atol=atol))})
    return pd.DataFrame(rows, columns=["tensor", "shape", "max_abs_diff", "agrees"])


def first_divergent(frame) -> str | None:
    """The first tensor of a ``compare_layers`` frame that disagrees (None when all agree)."""
    bad = frame[~frame["agrees"]]
    return None if bad.empty else str(bad.iloc[0]["tensor"])


@dataclass(frozen=True)
class Bisection:
    """Where a prefix cut of a model starts to disagree with the reference."""

    culprit: str  # first tensor whose value disagrees
    node: onnx.NodeProto  # the node that writes it
    tried: list[str]  # the cut points tried, in order
    compared: int  # tensors compared over all cuts
    sub_model: onnx.ModelProto  # the culprit node alone, fed from its own inputs


def bisect_divergence(path: str | Path, feeds: Mapping[str, np.ndarray],
                      reference: Mapping[str, np.ndarray], work: str | Path,
                      atol: float = 1e-4, rtol: float = 1e-3) -> Bisection:
    """Binary search over prefix sub-models (``onnx.utils.extract_model``) for the first bad tensor.

    ``reference`` maps tensor names to trusted values (e.g. from a correct export); each step
    cuts the model after one candidate tensor (in graph order), runs the cut with all its
    tensors as outputs, and keeps the half where something disagrees. Only tensors in
    ``reference`` are tried. Raises ``ValueError`` when the whole model agrees.
    """
    path, work = Path(path), Path(work)
    model = onnx.load(str(path))
    inputs = [name for name in feeds]
    candidates = [name for name in node_outputs(model) if name in reference]
    tried: list[str] = []
    compared = 0

    def fails(index: int) -> bool:
        # the prefix up to candidates[index], every tensor of it an output: failing is then
        # monotone in index even when a later side branch (a skip connection) still agrees
        nonlocal compared
        names = candidates[:index + 1]
        tried.append(names[-1])
        compared += len(names)
        cut = work / "bisect_cut.onnx"
        onnx.utils.extract_model(str(path), str(cut), inputs, names)
        session = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"])
        values = session.run(names, dict(feeds))
        return any(not np.allclose(value, reference[name], rtol=rtol, atol=atol)
                   for name, value in zip(names, values, strict=True))

    low, high = 0, len(candidates) - 1
    if not candidates or not fails(high):
        raise ValueError("the model agrees with the reference at every compared tensor")
    while low < high:  # invariant: candidates[high] fails
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
    culprit = candidates[high]
    node = next(n for n in model.graph.node if culprit in n.output)
    initializers = {t.name for t in model.graph.initializer}
    node_inputs = [name for name in node.input if name and name not in initializers]
    single = work / "bisect_culprit.onnx"
    onnx.utils.extract_model(str(path), str(single), node_inputs, [culprit])
    return Bisection(culprit, node, tried, compared, onnx.load(str(single)))
