"""Drive the course's web page (web/) in headless Chromium through Selenium.

The page runs the model with onnxruntime-web; these helpers open it, wait until the model is
loaded, and call the page's own ``classifyUrl`` / ``benchmark`` / ``tryModel`` functions.
``course_page(model)`` is the whole set-up in one context manager (the course's app in a
thread, Chromium on its page); the browser always quits and the server always stops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.serve.app import ORT_WEB_DIST


def setup_hint(piece: str) -> str:
    """The command that installs ``piece`` on this OS (Debian/Ubuntu, macOS, Windows)."""
    from helpers.doctor import TOOLS, install_system

    if piece in TOOLS:
        return TOOLS[piece].install[install_system()]
    return {"onnxruntime-web": "npm ci --prefix web",
            "selenium": "pip install -r requirements.txt"}[piece]


def missing_pieces() -> list[str]:
    """What the browser part still needs on this machine (empty when everything is there)."""
    from helpers.doctor import find_browser, find_chromedriver

    missing = []
    if not find_browser():
        missing.append("chromium")
    if not find_chromedriver():
        missing.append("chromedriver")
    if not ORT_WEB_DIST.is_dir():
        missing.append("onnxruntime-web")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    return missing


def missing_reason() -> str | None:
    """One line naming what is missing and how to install it, or None."""
    missing = missing_pieces()
    if not missing:
        return None
    return "browser part skipped: missing " + ", ".join(f"{m} ({setup_hint(m)})" for m in missing)


@contextlib.contextmanager
def headless_chromium(width: int = 1000, height: int = 760) -> Iterator:
    """A headless Chromium WebDriver (browser and chromedriver found on PATH); always quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from helpers.doctor import find_browser, find_chromedriver

    browser, driver_path = find_browser(), find_chromedriver()
    if not (browser and driver_path):
        raise RuntimeError(missing_reason())
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, url: str, timeout: float = 90) -> str:
    """Load the page and wait until it reports ``ready`` or an error; returns that status."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    status = WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "return window.courseReady || null"))
    return str(status)


@contextlib.contextmanager
def course_page(model: str | Path, *, threads: int = 1, timeout: float = 90) -> Iterator:
    """Headless Chromium on ``/web/`` of the course's app serving ``model``, the model loaded.

    The app (``create_app``, what ``python -m helpers.serve`` runs) is served by uvicorn in a
    thread of this process; on leaving, even after an error, the browser quits and the server
    stops. Raises ``RuntimeError`` with the page's message when the page cannot load the model.
    """
    import uvicorn

    from helpers.serve.app import create_app, load_classifier
    from helpers.serve.load import LOCALHOST, free_port, serve_in_thread

    app = create_app(load_classifier(model, threads=threads))
    server = uvicorn.Server(uvicorn.Config(app, host=LOCALHOST, port=free_port(),
                                           log_level="warning"))
    with serve_in_thread(server) as served, headless_chromium() as driver:
        status = open_page(driver, f"{served.url}/web/", timeout)
        if status != "ready":
            raise RuntimeError(f"the page did not load {Path(model).name}: {status}")
        yield driver


def page_status_text(driver) -> str:
    """The status line the learner sees on the page."""
    return str(driver.execute_script("return document.getElementById('status').textContent"))


CLASSIFY_JS = """
const done = arguments[arguments.length - 1];
window.classifyUrl(arguments[0])
  .then((r) => done({probabilities: Array.from(r.probabilities), ms: r.ms}))
  .catch((e) => done({error: String(e)}));
"""

BENCHMARK_JS = """
const done = arguments[arguments.length - 1];
window.benchmark(arguments[0]).then(done).catch((e) => done({error: String(e)}));
"""


def classify_in_page(driver, image_url: str) -> tuple[np.ndarray, float]:
    """The page's class probabilities for an image URL, and its one-run time in ms."""
    result = driver.execute_async_script(CLASSIFY_JS, image_url)
    if "error" in result:
        raise RuntimeError(f"the page could not classify {image_url}: {result['error']}")
    return np.asarray(result["probabilities"], dtype=np.float64), float(result["ms"])


def benchmark_in_page(driver, runs: int) -> np.ndarray:
    """Times (ms) of ``runs`` warm ``session.run`` calls in the page, on its last input."""
    result = driver.execute_async_script(BENCHMARK_JS, int(runs))
    if isinstance(result, dict):
        raise RuntimeError(f"the page's benchmark failed: {result['error']}")
    return np.asarray(result, dtype=np.float64)


def compare_with_python(driver, classifier, paths: Sequence[Path]) -> pd.DataFrame:
    """The page's probabilities against ``classifier.probabilities`` (Python ORT) per digit PNG.

    Each file is fetched by the page from ``/digits/<name>``; one row per file: true label
    (from the name ``digit_<label>_<n>.png``), both top-1s and the largest |Δ probability|.
    """
    from helpers.data.images import load_image

    rows = []
    for path in paths:
        in_page, _ = classify_in_page(driver, f"/digits/{path.name}")
        in_python = classifier.probabilities(load_image(path))
        rows.append({"file": path.name, "true": int(path.name.split("_")[1]),
                     "browser top-1": int(in_page.argmax()), "Python top-1": int(in_python.argmax()),
                     "max |Δ probability|": float(np.abs(in_page - in_python).max())})
    return pd.DataFrame(rows).set_index("file")


def time_page_and_native(driver, sessions: dict, batch: np.ndarray, *, runs: int, rounds: int,
                         page: str = "browser WASM, 1 thread") -> dict[str, list[float]]:
    """Milliseconds of warm ``session.run`` calls: ``runs`` in the page (on the input it
    classified last) then ``runs`` in each native session (on ``batch``), ``rounds`` times.

    The ways take turns so a busy neighbour slows all alike; three untimed runs each first.
    """
    from helpers import progress_bar

    feeds = {name: {session.get_inputs()[0].name: batch} for name, session in sessions.items()}
    benchmark_in_page(driver, 3)
    for name, session in sessions.items():
        for _ in range(3):
            session.run(None, feeds[name])
    times: dict[str, list[float]] = {page: [], **{name: [] for name in sessions}}
    for _ in progress_bar(range(rounds), desc="rounds"):
        times[page] += benchmark_in_page(driver, runs).tolist()
        for name, session in sessions.items():
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, feeds[name])
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


TOP_LABELS_JS = """
const rows = Array.from(document.querySelectorAll('#topk tr'));
return rows.length ? rows.map((r) => r.cells[0].textContent) : null;
"""


def draw_and_classify(driver, stroke: Sequence[tuple[int, int]], timeout: float = 30) -> list[str]:
    """Draw ``stroke`` (pixel offsets from the pad's centre) on the page's pad with the pointer,
    press *Classify drawing*, and return the labels of the page's top-k table, best first."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if len(stroke) < 2:
        raise ValueError(f"expected a stroke of at least 2 points, got {len(stroke)}")
    driver.execute_script("document.getElementById('topk').innerHTML = ''")
    pad = driver.find_element(By.ID, "pad")
    actions = ActionChains(driver).move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
        actions = actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()
    driver.find_element(By.ID, "classify-drawing").click()
    return list(WebDriverWait(driver, timeout).until(lambda d: d.execute_script(TOP_LABELS_JS)))


TRY_MODEL_JS = """
const done = arguments[arguments.length - 1];
window.tryModel(arguments[0]).then(done);
"""


def try_model_in_page(driver, model_bytes: bytes) -> str:
    """``"ready"`` when the page's onnxruntime-web loads ``model_bytes``, else ``"error: ..."``."""
    import base64

    return str(driver.execute_async_script(TRY_MODEL_JS, base64.b64encode(model_bytes).decode()))


def handmade_classifier(ir_version: int | None = None, seed: int = 0):
    """A tiny 10-class model built with ``onnx.helper`` (input [N, 3, 64, 64] -> logits [N, 10]).

    ``make_model`` stamps the newest IR version this onnx knows unless ``ir_version`` is given.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(size=(3, 10)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(np.zeros(10, np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"])],
        "handmade", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model
