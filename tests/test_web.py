"""The web page: pinned onnxruntime-web served locally, and the page in headless Chromium."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient

from helpers.data.datasets import digit_png_paths
from helpers.data.images import load_image
from helpers.paths import REPO_ROOT
from helpers.serve.app import ORT_WEB_DIST, SWAGGER_DIST, create_app, load_classifier
from helpers.serve.browser import (
    classify_in_page,
    handmade_classifier,
    headless_chromium,
    missing_reason,
    open_page,
    page_status_text,
)
from helpers.serve.load import running_server

WEB = REPO_ROOT / "web"
needs_browser = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
needs_ort_web = pytest.mark.skipif(not ORT_WEB_DIST.is_dir(),
                                   reason="onnxruntime-web missing: run npm ci --prefix web")
needs_swagger = pytest.mark.skipif(not SWAGGER_DIST.is_dir(),
                                   reason="swagger-ui-dist missing: run npm ci --prefix web")
PINNED = {"onnxruntime-web": "1.30.0", "swagger-ui-dist": "5.35.0"}


def test_package_json_pins_onnxruntime_web_and_the_lock_agrees():
    package = json.loads((WEB / "package.json").read_text())
    lock = json.loads((WEB / "package-lock.json").read_text())
    assert package["dependencies"] == PINNED
    for name, version in PINNED.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_node_modules_is_ignored_by_git():
    assert "web/node_modules/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


@needs_ort_web
def test_the_service_serves_the_page_and_wasm_as_application_wasm(tiny_onnx):
    client = TestClient(create_app(load_classifier(tiny_onnx)))
    assert "onnxruntime-web" in client.get("/web/").text
    wasm = client.get("/ort/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"
    assert "javascript" in client.get("/ort/ort.wasm.min.mjs").headers["content-type"]
    assert client.get("/model.onnx").content == tiny_onnx.read_bytes()
    assert client.get("/digits/").json() == [p.name for p in digit_png_paths()]


@needs_swagger
def test_docs_are_served_from_local_files_not_a_cdn(tiny_onnx, tmp_path):
    client = TestClient(create_app(load_classifier(tiny_onnx)))
    page = client.get("/docs")
    assert page.status_code == 200 and "/swagger/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace("http-equiv", ""), "no outside URL in the page"
    bundle = client.get("/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert client.get("/swagger/swagger-ui.css").status_code == 200
    without = TestClient(create_app(load_classifier(tiny_onnx), swagger_dist=tmp_path / "no"))
    missing = without.get("/docs")
    assert missing.status_code == 404 and "npm ci --prefix web" in missing.json()["error"]
    assert without.get("/openapi.json").json()["info"]["title"] == "Course classifier"


@needs_browser
@needs_swagger
def test_the_docs_page_renders_offline_in_chromium(tiny_onnx):
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server(tiny_onnx, threads=1) as server, headless_chromium() as driver:
        driver.get(f"{server.url}/docs")
        paths = WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "const p = [...document.querySelectorAll('.opblock-summary-path')]"
            ".map(e => e.textContent); return p.length ? p : null"))
    assert {"/classify", "/health", "/model"} <= set(paths), paths


@needs_browser
def test_the_page_classifies_every_digit_png_like_python_ort(tiny_onnx):
    classifier = load_classifier(tiny_onnx, threads=1)
    with running_server(tiny_onnx, threads=1) as server, headless_chromium() as driver:
        assert open_page(driver, f"{server.url}/web/") == "ready", page_status_text(driver)
        for path in digit_png_paths():
            in_page, _ = classify_in_page(driver, f"/digits/{path.name}")
            in_python = classifier.probabilities(load_image(path))
            assert np.abs(in_page - in_python).max() < 1e-5, path.name
            assert in_page.argmax() == in_python.argmax()


def _png_data_url(path) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _python_model_input(classifier, path) -> np.ndarray:
    """The 64×64×3 uint8 pixels Python ORT is fed for ``path`` (preprocess_digit, unscaled)."""
    tensor = classifier.preprocess(load_image(path))[0].transpose(1, 2, 0)
    return np.rint((tensor * 0.5 + 0.5) * 255).astype(np.uint8)


def _page_model_input(driver) -> np.ndarray | None:
    """What the page fed its model last, as 64×64×3 uint8 (None when it says nothing)."""
    pixels = driver.execute_script(
        "return typeof window.modelInput === 'function' ? window.modelInput() : null")
    return None if pixels is None else np.asarray(pixels, dtype=np.uint8).reshape(64, 64, 3)


@needs_browser
def test_the_page_resizes_like_pillow_at_any_size_and_aspect_ratio(tiny_onnx, tmp_path):
    """Up, down, non-square, 64×64 and noise: the page's 64×64 input is Python's, pixel for pixel."""
    import base64
    import io

    from PIL import Image

    digit = Image.open(digit_png_paths()[3]).convert("RGB")
    images = {f"digit {w}x{h}": digit.resize((w, h), Image.BILINEAR)
              for w, h in [(28, 28), (37, 53), (100, 100), (300, 200), (64, 64), (48, 120)]}
    rng = np.random.default_rng(0)
    for w, h in [(129, 77), (90, 300)]:  # 48x120, 90x300: Pillow 13 resizes vertically first
        images[f"noise {w}x{h}"] = Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8))
    classifier = load_classifier(tiny_onnx, threads=1)
    measured = {}
    with running_server(tiny_onnx, threads=1) as server, headless_chromium() as driver:
        assert open_page(driver, f"{server.url}/web/") == "ready", page_status_text(driver)
        for name, image in images.items():
            path = tmp_path / f"{name.replace(' ', '_')}.png"
            image.save(path)
            in_page, _ = classify_in_page(driver, _png_data_url(path))
            in_python = classifier.probabilities(load_image(path))
            page_input = _page_model_input(driver)
            assert page_input is not None, "the page has no window.modelInput()"
            python_input = _python_model_input(classifier, path)
            preview = driver.execute_script("return document.getElementById('preview').src")
            shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(preview.split(",", 1)[1])))
                               .convert("RGB"))
            measured[name] = {
                "max |Δ| grey levels": int(np.abs(page_input.astype(int) - python_input).max()),
                "max |Δp|": float(np.abs(in_page - in_python).max()),
                "same top-1": bool(in_page.argmax() == in_python.argmax()),
                "preview is the input": bool((shown == page_input).all()),
            }
    print("\n".join(f"{name}: {row}" for name, row in measured.items()))
    for name, row in measured.items():
        assert row["max |Δ| grey levels"] <= 1, (name, measured)
        assert row["max |Δp|"] < 1e-4 and row["same top-1"], (name, measured)
        assert row["preview is the input"], (name, measured)


TOPK_ROWS_JS = "return document.querySelectorAll('#topk tr').length"
FILE_ERROR_JS = """
const box = document.getElementById('file-error');
return box && !box.hidden && box.textContent ? box.textContent : null;
"""


@needs_browser
def test_a_file_that_is_not_an_image_is_explained_and_the_old_answer_cleared(tiny_onnx, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = digit_png_paths()[0]

    def pick(driver, path) -> None:
        driver.find_element(By.ID, "file").send_keys(str(path))

    def shows_answer(driver) -> bool:
        return driver.execute_script(TOPK_ROWS_JS) > 0 and driver.execute_script(FILE_ERROR_JS) is None

    with running_server(tiny_onnx, threads=1) as server, headless_chromium() as driver:
        assert open_page(driver, f"{server.url}/web/") == "ready", page_status_text(driver)
        for bad, expected in [(text, "notes.txt is not an image the browser can decode"),
                              (empty, "empty.png is empty (0 bytes)")]:
            pick(driver, good)
            WebDriverWait(driver, 30).until(shows_answer)
            pick(driver, bad)
            message = WebDriverWait(driver, 30).until(lambda d: d.execute_script(FILE_ERROR_JS))
            assert expected in message and "expected PNG, JPEG, GIF, BMP or WebP" in message
            assert driver.execute_script(TOPK_ROWS_JS) == 0, "the old top-k table is still shown"
            assert driver.find_element(By.ID, "latency").text == ""
            assert driver.find_element(By.ID, "preview").get_attribute("src") in (None, "")
            assert _page_model_input(driver) is None
        pick(driver, good)  # a good file afterwards clears the message
        WebDriverWait(driver, 30).until(shows_answer)


@needs_browser
def test_ir_version_14_is_rejected_by_the_page_and_ir_10_loads(tmp_path):
    newest = tmp_path / "ir_default.onnx"
    onnx.save(handmade_classifier(), newest)
    assert onnx.load(newest).ir_version >= 14
    fixed = tmp_path / "ir10.onnx"
    onnx.save(handmade_classifier(ir_version=10), fixed)
    with headless_chromium() as driver:
        with running_server(newest, threads=1) as server:
            status = open_page(driver, f"{server.url}/web/")
            assert status.startswith("error") and "version" in status.lower(), status
        with running_server(fixed, threads=1) as server:
            assert open_page(driver, f"{server.url}/web/") == "ready", page_status_text(driver)


def test_a_missing_piece_is_named_in_one_line_with_its_install_command(monkeypatch, tmp_path):
    import helpers.serve.browser as browser
    from helpers import doctor

    monkeypatch.setattr(browser, "ORT_WEB_DIST", tmp_path / "no-node-modules")
    monkeypatch.setattr(doctor, "find_browser", lambda: None)
    monkeypatch.setattr(doctor, "find_chromedriver", lambda: None)
    monkeypatch.setattr(doctor, "install_system", lambda: "apt")
    reason = browser.missing_reason()
    assert "\n" not in reason
    for piece in ("chromium (sudo apt-get install chromium)",
                  "chromedriver (sudo apt-get install chromium-driver)",
                  "onnxruntime-web (npm ci --prefix web)"):
        assert piece in reason, reason


def test_the_javascript_notebook_16_shows_is_the_pages_own():
    """Every code line of the ```js blocks in notebook 16 is a line of web/app.js."""
    import re

    notebook = json.loads((REPO_ROOT / "notebooks" / "16_in_the_browser.ipynb").read_text())
    markdown = "\n".join("".join(c["source"]) for c in notebook["cells"]
                         if c["cell_type"] == "markdown")
    shown = [line.strip() for block in re.findall(r"```js\n(.*?)```", markdown, re.S)
             for line in block.splitlines() if line.strip() and not line.strip().startswith("//")]
    page = {line.strip() for line in (WEB / "app.js").read_text().splitlines()}
    assert len(shown) >= 8, shown
    assert not [line for line in shown if line not in page], "lines not in web/app.js"


def test_draw_and_classify_needs_a_stroke():
    from helpers.serve.browser import draw_and_classify

    with pytest.raises(ValueError, match="at least 2 points"):
        draw_and_classify(None, [(0, 0)])


def test_show_screenshot_drops_the_empty_bottom_of_the_window():
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from helpers.show.serving import plot_page_latency, show_screenshot

    shot = np.full((300, 200, 3), 255, np.uint8)
    shot[10:50, 20:80] = 0  # content in the top 50 rows only
    buffer = io.BytesIO()
    Image.fromarray(shot).save(buffer, format="PNG")
    fig = show_screenshot(buffer.getvalue(), "a page", margin=16)
    assert fig.axes[0].images[0].get_array().shape[:2] == (49 + 16, 200)  # last used row + margin
    assert fig.axes[0].get_title() == "a page"
    fig = plot_page_latency({"page": [30.0, 40.0], "native": [10.0, 12.0]}, rounds=2, runs=1)
    assert "2 alternating rounds × 1 runs" in fig.axes[0].get_title()
    plt.close("all")


@needs_browser
def test_course_page_compares_times_and_draws_then_the_browser_quits(tiny_onnx):
    from helpers.runtime.sessions import create_session
    from helpers.serve.browser import (
        compare_with_python,
        course_page,
        draw_and_classify,
        time_page_and_native,
    )

    paths = digit_png_paths()[:3]
    batch = load_classifier(tiny_onnx).preprocess(load_image(paths[-1]))
    with course_page(tiny_onnx) as driver:
        parity = compare_with_python(driver, load_classifier(tiny_onnx, threads=1), paths)
        times = time_page_and_native(driver, {"native": create_session(tiny_onnx, threads=1)},
                                     batch, runs=2, rounds=2)
        top = draw_and_classify(driver, [(-40, -40), (40, -40), (0, 50)])
    assert list(parity.index) == [p.name for p in paths]
    assert (parity["max |Δ probability|"] < 1e-5).all()
    assert {name: len(v) for name, v in times.items()} == {"browser WASM, 1 thread": 4, "native": 4}
    assert len(top) == 3 and set(top) <= set("0123456789")
    with pytest.raises(Exception):  # noqa: B017 - any WebDriver error: the browser has quit
        driver.title  # noqa: B018


@needs_browser
def test_course_page_names_a_model_the_page_cannot_load(tmp_path):
    from helpers.serve.browser import course_page

    newest = tmp_path / "ir_default.onnx"
    onnx.save(handmade_classifier(), newest)
    with pytest.raises(RuntimeError, match="did not load ir_default.onnx: error"), \
            course_page(newest):
        pass
