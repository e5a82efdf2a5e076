"""Drive the course's web page (web/) in headless Chromium through Selenium.

The page runs the model with onnxruntime-web; these helpers open it, wait until the model is
loaded, and call the page's own ``classifyUrl`` / ``benchmark`` functions.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from helpers.serve.app import ORT_WEB_DIST

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SETUP_HINT = {"chromium": "apt-get install chromium", "chromedriver": "apt-get install chromium-driver",
              "onnxruntime-web": "npm ci --prefix web", "selenium": "pip install -r requirements.txt"}


def missing_pieces() -> list[str]:
    """What the browser part still needs on this machine (empty when everything is there)."""
    missing = []
    if not (CHROMIUM.exists() or shutil.which("chromium")):
        missing.append("chromium")
    if not (CHROMEDRIVER.exists() or shutil.which("chromedriver")):
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
    return "browser part skipped: missing " + ", ".join(f"{m} ({SETUP_HINT[m]})" for m in missing)


@contextlib.contextmanager
def headless_chromium(width: int = 1000, height: int = 760) -> Iterator:
    """A headless Chromium WebDriver using Debian's binaries; always quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver_path = CHROMEDRIVER if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
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
