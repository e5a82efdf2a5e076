"""The HTTP service: good requests, every kind of bad input (4xx + message), then still serving."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from helpers.paths import REPO_ROOT
from helpers.serve.app import MAX_BODY_BYTES, MAX_PIXELS, create_app, load_classifier
from helpers.serve.load import (
    ServerStartError,
    burst,
    hey_available,
    hey_load,
    running_server,
    summarize_load,
)


def png_bytes(size: tuple[int, int] = (64, 64), mode: str = "RGB", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    array = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_png(width: int, height: int) -> bytes:
    """A black greyscale PNG: a few kB on the wire, ``width * height`` bytes once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def claims_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's calling card)."""
    ihdr = bytearray(png[16:29])  # width, height, depth, colour type, ... after b"IHDR"
    ihdr[0:8] = struct.pack(">II", width, height)
    chunk = b"IHDR" + bytes(ihdr)
    return png[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


@pytest.fixture(scope="module")
def client(tiny_onnx):
    with TestClient(create_app(load_classifier(tiny_onnx, threads=1))) as test_client:
        yield test_client


def assert_still_serving(client) -> None:
    response = client.post("/classify", content=png_bytes(), headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text


def test_multipart_upload_gets_top_k_with_labels(client):
    response = client.post("/classify?k=3", files={"file": ("x.png", png_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["rank"] for p in body["predictions"]] == [1, 2, 3]
    assert {p["label"] for p in body["predictions"]} <= set("0123456789")
    probabilities = [p["probability"] for p in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1


def test_raw_body_gives_the_same_answer_as_multipart(client):
    data = png_bytes(seed=3)
    raw = client.post("/classify", content=data, headers={"content-type": "image/png"}).json()
    form = client.post("/classify", files={"file": ("x.png", data, "image/png")}).json()
    assert raw["predictions"] == form["predictions"] and len(raw["predictions"]) == 5


def test_answer_matches_the_session_called_directly(client, tiny_onnx):
    data = png_bytes((20, 30), seed=5)  # not 64x64: the service resizes like preprocess_digit
    classifier = load_classifier(tiny_onnx, threads=1)
    expected = classifier.probabilities(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    body = client.post("/classify?k=10", content=data, headers={"content-type": "image/png"}).json()
    got = np.zeros(10)
    for p in body["predictions"]:
        got[p["index"]] = p["probability"]
    assert np.abs(got - expected).max() < 1e-9


def test_health_and_model_metadata(client):
    assert client.get("/health").json()["status"] == "ok"
    meta = client.get("/model").json()
    assert meta["inputs"][0]["name"] == "input" and meta["preprocessing"] == "digits"
    assert meta["labels"] == list("0123456789") and meta["intra_op_threads"] == 1
    schema = client.get("/openapi.json").json()["paths"]["/classify"]["post"]
    assert {"multipart/form-data", "image/png"} <= set(schema["requestBody"]["content"])


BAD_REQUESTS = {
    "not an image": (dict(content=b"hello, this is text", headers={"content-type": "image/png"}),
                     400, "not an image or a corrupt image"),
    "empty body": (dict(content=b"", headers={"content-type": "image/png"}), 400, "empty body"),
    "body over the size limit": (dict(content=b"\0" * (MAX_BODY_BYTES + 1),
                                      headers={"content-type": "image/png"}), 413, "over the limit"),
    "decompression bomb (header)": (dict(content=claims_size(png_bytes(), 30000, 30000),
                                         headers={"content-type": "image/png"}), 413, "decompression"),
    "decompression bomb (real)": (dict(content=blank_png(4200, 4200),
                                       headers={"content-type": "image/png"}), 413, "decompression"),
    "wrong content type": (dict(content=png_bytes(), headers={"content-type": "application/json"}),
                           415, "expected a multipart/form-data body"),
    "no content type": (dict(content=png_bytes()), 415, "not accepted"),
    "corrupt upload (truncated PNG)": (dict(content=png_bytes()[:300],
                                            headers={"content-type": "image/png"}), 400, "cannot read upload as an image"),
    "multipart without 'file'": (dict(files={"picture": ("x.png", png_bytes(), "image/png")}),
                                 400, "no file in the form field 'file'"),
    "corrupt multipart": (dict(content=b"--nope\r\ngarbage",
                               headers={"content-type": "multipart/form-data; boundary=xyz"}),
                          400, "expected a multipart/form-data body"),
    "k out of range": (dict(params={"k": "11"}, content=png_bytes(),
                            headers={"content-type": "image/png"}), 422, "between 1 and 10"),
}


# the class of k values a "digits only" test lets through or that int() cannot read
K_VALUES = ["²", "١", "٣", "𝟑", "0", "00", "-1", "+3", " 3", "3 ", "3.0", "1e1", "0x3", "",
            "9" * 1500, "1" * 40, "３"]


@pytest.mark.parametrize("k", K_VALUES, ids=lambda k: ascii(k)[:16])
def test_every_k_outside_ascii_1_to_classes_is_a_422_json_error(client, k):
    response = client.post("/classify", params={"k": k}, content=png_bytes(),
                           headers={"content-type": "image/png"})
    assert response.status_code == 422, (k, response.text)
    assert "expected an integer between 1 and 10" in response.json()["error"]
    assert len(response.json()["error"]) < 200, "the echoed value is cut short"
    assert_still_serving(client)


@pytest.mark.parametrize("length", ["²", "١٠", "abc", "9" * 5000, "-5"], ids=lambda v: ascii(v)[:16])
def test_a_content_length_int_cannot_read_is_a_4xx_json_error(client, length):
    response = client.post("/classify", content=b"", headers={
        "content-type": "image/png", "content-length": length.encode()})  # as the bytes arrive
    assert 400 <= response.status_code < 500 and "error" in response.json(), response.text
    assert_still_serving(client)


@pytest.mark.parametrize("url", ["/" + "a" * 10_000, "/health?" + "q" * 5000,
                                 "/classify?k=3&" + "x=1&" * 1000], ids=["path", "query", "params"])
def test_a_url_over_the_limit_is_a_414_json_error_without_the_url_echoed(client, url):
    response = client.get(url) if url.startswith("/health") or "?" not in url else client.post(
        url, content=png_bytes(), headers={"content-type": "image/png"})
    assert response.status_code == 414, response.status_code
    assert "over the limit of 2,048" in response.json()["error"] and len(response.content) < 300
    assert_still_serving(client)


def test_an_unknown_path_is_not_echoed_at_length(client):
    response = client.get("/" + "b" * 2000)
    assert response.status_code == 404 and len(response.json()["error"]) < 300


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=str)
def test_bad_input_gets_a_4xx_json_error_then_the_service_still_answers(client, case):
    kwargs, status, message = BAD_REQUESTS[case]
    response = client.post("/classify", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"], response.json()
    assert_still_serving(client)


def test_the_bomb_guard_sits_below_pillows_own_limit():
    assert MAX_PIXELS < 4200 * 4200 and MAX_PIXELS < Image.MAX_IMAGE_PIXELS


def test_unknown_path_and_wrong_method_are_json_4xx(client):
    missing = client.get("/nope")
    assert missing.status_code == 404 and "expected /classify" in missing.json()["error"]
    assert client.get("/classify").status_code == 405


def test_model_that_cannot_load_stops_start_up_with_one_line(tmp_path, corrupt_onnx):
    for model in (tmp_path / "missing.onnx", corrupt_onnx):
        result = subprocess.run([sys.executable, "-m", "helpers.serve.app", "--model", str(model)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot start the service:"), lines
        assert model.name in lines[0]


def test_running_server_reports_a_start_failure(tmp_path):
    with pytest.raises(ServerStartError, match="missing.onnx"), \
            running_server(tmp_path / "missing.onnx"):
        pass


def test_summarize_load_counts_errors_and_throughput_over_the_run():
    rows = pd.DataFrame({"latency_s": [0.1] * 10, "status": [200] * 8 + [500, 0],
                         "offset_s": np.arange(10) * 0.1})  # back to back: the run lasts 1.0 s
    summary = summarize_load(rows, concurrency=1)
    assert summary["errors"] == 2 and summary["requests"] == 10
    assert summary["throughput_rps"] == pytest.approx(8.0)
    assert summary["p50_ms"] == pytest.approx(100.0)


def test_loads_go_only_to_localhost_and_are_bounded(tmp_path):
    body = tmp_path / "x.png"
    body.write_bytes(png_bytes())
    with pytest.raises(ValueError, match="127.0.0.1"):
        hey_load("http://example.com/classify", body, requests=10, concurrency=2)
    with pytest.raises(ValueError, match="requests"):
        hey_load("http://127.0.0.1:9/classify", body, requests=10**6, concurrency=2)
    with pytest.raises(ValueError, match="bounded"):
        burst("http://10.0.0.1:80", b"", requests=10, concurrency=2)


@pytest.mark.skipif(not hey_available(), reason="load generator hey missing (apt-get install hey)")
def test_hey_drives_the_service_and_every_request_is_answered(tiny_onnx, tmp_path):
    body = tmp_path / "x.png"
    body.write_bytes(png_bytes())
    with running_server(tiny_onnx, threads=1) as server:
        rows = hey_load(f"{server.url}/classify", body, requests=40, concurrency=4)
        assert len(rows) == 40 and (rows["status"] == 200).all()
        assert summarize_load(rows, 4)["errors"] == 0


def test_without_hey_the_python_client_gives_the_same_rows(tiny_onnx, tmp_path, monkeypatch):
    from helpers.serve import load

    body = tmp_path / "x.png"
    body.write_bytes(png_bytes())
    monkeypatch.setattr(load, "HEY", "hey-not-on-this-path")
    assert load.load_generator() == "python"
    with running_server(tiny_onnx, threads=1) as server:
        rows = load.post_load(f"{server.url}/classify", body, requests=30, concurrency=3)
        assert list(rows.columns) == ["latency_s", "status", "offset_s"]
        assert len(rows) == 30 and (rows["status"] == 200).all()
        assert (rows["latency_s"] > 0).all() and rows["offset_s"].min() >= 0
        assert summarize_load(rows, 3)["errors"] == 0
        bad = tmp_path / "junk.png"
        bad.write_bytes(b"junk")
        assert set(load.python_load(f"{server.url}/classify", bad, requests=4,
                                    concurrency=2)["status"]) == {400}
    with pytest.raises(ValueError, match="127.0.0.1"):
        load.python_load("http://10.0.0.1:80/classify", body, requests=2, concurrency=1)


def test_a_bounded_burst_gets_no_errors_and_the_process_survives(tiny_onnx):
    with running_server(tiny_onnx, threads=1) as server:
        statuses = burst(server.url, png_bytes(), requests=200, concurrency=8)
        assert len(statuses) == 200 and set(statuses) == {200}
        bad = burst(server.url, b"junk", requests=16, concurrency=8)
        assert set(bad) == {400}
        assert server.alive()
        import httpx

        assert httpx.get(f"{server.url}/health").status_code == 200
    assert not server.alive()


def test_every_connection_gets_tcp_nodelay_even_from_a_pre_bound_socket(monkeypatch):
    """uvicorn --workers N hands over a socket with proto 0: asyncio then leaves Nagle on."""
    import socket
    from types import SimpleNamespace

    from uvicorn.protocols.http.h11_impl import H11Protocol

    from helpers.serve.app import NoDelayH11Protocol

    monkeypatch.setattr(H11Protocol, "connection_made", lambda self, transport: None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:  # proto 0, like uvicorn's
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                transport = SimpleNamespace(get_extra_info=lambda name: accepted)
                NoDelayH11Protocol.connection_made(object.__new__(NoDelayH11Protocol), transport)
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


# --- running the app in a thread, the measurements of notebook 15 and their tables ----------

def tiny_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


def test_serve_in_thread_answers_then_stops_even_after_an_error():
    import httpx
    import uvicorn

    from helpers.serve.load import LOCALHOST, free_port, serve_in_thread

    config = uvicorn.Config(tiny_app(), host=LOCALHOST, port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn.Server(config)) as running:
        assert running.alive() and httpx.get(f"{running.url}/health").json() == {"status": "ok"}
    assert not running.alive()
    with pytest.raises(KeyError), serve_in_thread(uvicorn.Server(config)) as running:
        raise KeyError("a failing cell")
    assert not running.alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.url}/health", timeout=2)


def test_serve_in_thread_binds_localhost_only():
    import uvicorn

    from helpers.serve.load import serve_in_thread

    with pytest.raises(ValueError, match="127.0.0.1"), \
            serve_in_thread(uvicorn.Server(uvicorn.Config(tiny_app(), host="0.0.0.0", port=0))):
        pass


def test_time_alternating_takes_turns_after_the_warm_up():
    from helpers.serve.load import time_alternating

    calls: list[str] = []
    times = time_alternating({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             pairs=4, warmup=2)
    assert calls == ["a", "b"] * 6
    assert list(times.columns) == ["a", "b"] and len(times) == 4 and (times >= 0).all().all()


def test_try_requests_reports_status_error_and_whether_health_still_answers(client):
    from helpers.serve.load import try_requests

    requests = {name: BAD_REQUESTS[name][0] for name in ("empty body", "wrong content type")}
    table = try_requests(client, "/classify", requests, width=20)
    assert list(table.index) == list(requests)
    assert list(table["status"]) == [400, 415] and (table["health after"] == 200).all()
    assert table["error (first 20 characters)"].str.len().max() <= 20
    assert table.loc["empty body", "error (first 20 characters)"].startswith("empty body")


@pytest.mark.skipif(not hey_available(), reason="load generator hey missing (apt-get install hey)")
def test_the_load_measurements_answer_every_request(tiny_onnx, tmp_path):
    from helpers.serve.load import in_process_vs_http, interleaved_loads, load_curve

    body = tmp_path / "x.png"
    body.write_bytes(png_bytes())
    classifier = load_classifier(tiny_onnx, threads=1)
    with running_server(tiny_onnx, threads=1) as server:
        url = f"{server.url}/classify"
        curve = load_curve(url, body, [1, 2], per_worker=5, min_requests=6, warmup=4)
        pairs = in_process_vs_http(lambda: classifier.classify_bytes(png_bytes(), 5), url, body,
                                   requests=8, rounds=2, concurrency=2)
        runs = interleaved_loads({"a": url, "b": url}, body, requests={1: 4, 2: 6}, rounds=2)
    assert list(curve.index) == [1, 2] and list(curve["requests"]) == [6, 10]
    assert (curve["errors"] == 0).all() and (curve["mean_ms"] > 0).all()
    assert pairs.shape == (2, 2) and (pairs > 0).all().all()
    assert len(runs) == 2 * 2 * 2 and (runs["errors"] == 0).all()
    assert list(runs["variant"][:4]) == ["a", "a", "b", "b"]  # round after round, in turns


def variant_runs() -> pd.DataFrame:
    """Two rounds of three variants at two levels: 'b' beats 'base' in every round, 'c' overlaps."""
    rps = {("base", 1): (10, 12), ("base", 8): (20, 22), ("b", 1): (30, 31), ("b", 8): (15, 16),
           ("c", 1): (11, 13), ("c", 8): (21, 23)}
    return pd.DataFrame([{"variant": v, "concurrency": c, "round": r, "throughput_rps": x,
                          "p50_ms": 1000 / x, "p99_ms": 2000 / x, "errors": 0}
                         for (v, c), values in rps.items() for r, x in enumerate(values)])


def test_compare_variants_speedups_and_verdicts_from_the_rounds():
    from helpers.show.serving import compare_variants, variant_speedups, variant_verdicts

    compared = compare_variants(variant_runs())
    assert list(dict.fromkeys(compared.index.get_level_values("variant"))) == ["base", "b", "c"]
    assert compared.loc[("base", 1)].tolist()[:3] == [11, 10, 12]
    speedups = variant_speedups(compared, "base")
    assert list(speedups.index) == ["base", "b", "c"]
    assert speedups.loc["b", 1] == pytest.approx(30.5 / 11) and (speedups.loc["base"] == 1).all()
    verdicts = variant_verdicts(compared, "base")
    assert list(verdicts.index) == ["b", "c"]
    assert verdicts.loc["b"].tolist() == ["faster", "slower"]
    assert (verdicts.loc["c"] == "same within the spread").all()


def test_percentile_and_latency_tables():
    from helpers.show.serving import latency_table, percentile_table

    times = pd.DataFrame({"a": np.arange(1.0, 12.0), "b": np.arange(1.0, 12.0) * 2})
    table = percentile_table(times)
    assert list(table.columns) == ["10%", "50%", "90%"] and table.loc["b", "50%"] == 12.0
    latency = latency_table({"a": times["a"], "b": times["b"]}, baseline="a")
    assert latency.loc["b", "× a"] == pytest.approx(2.0) and latency.loc["a", "median ms"] == 6.0


def test_the_serving_figures_state_their_conditions():
    import matplotlib.pyplot as plt

    from helpers.show.serving import compare_variants, plot_load_curve, plot_variant_speedups

    load = pd.DataFrame({"throughput_rps": [20.0, 40, 41], "p50_ms": [50.0, 50, 100],
                         "p95_ms": [60.0, 70, 150], "p99_ms": [70.0, 80, 200]},
                        index=pd.Index([1, 2, 4], name="concurrency"))
    load["little_ms"] = load.index / load["throughput_rps"] * 1e3
    fig = plot_load_curve(load, threads=2)
    assert "2 ORT thread" in fig.get_suptitle()
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    fig = plot_variant_speedups(compare_variants(variant_runs()), "base", rounds=2)
    assert "2 interleaved rounds" in fig.axes[0].get_title()
    plt.close("all")


def maximal_png() -> bytes:
    """An upload at the pixel limit (4096×4096) that still fits the body limit: a gradient."""
    side = int(MAX_PIXELS ** 0.5)
    ramp = (np.add.outer(np.arange(side), np.arange(side)) % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator (Linux)")
def test_a_burst_of_maximal_uploads_leaves_memory_where_it_was(tiny_onnx):
    """Peak within DECODE_SLOTS full-size decodes, and the memory returned after the burst."""
    import threading

    import psutil

    from helpers.serve.app import DECODE_SLOTS

    body = maximal_png()
    assert len(body) <= MAX_BODY_BYTES
    with running_server(tiny_onnx, threads=1) as server:
        process = psutil.Process(server.process.pid)
        mib = lambda: process.memory_info().rss / 2**20  # noqa: E731
        assert burst(server.url, png_bytes(), requests=8, concurrency=2) == [200] * 8
        idle, peak, done = mib(), [0.0], threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], mib())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            statuses = [s for _ in range(2) for s in burst(server.url, body, requests=16,
                                                             concurrency=8)]
        finally:
            done.set()
            watcher.join()
        time.sleep(0.5)
        settled = mib()
    one_decode = 4 * MAX_PIXELS / 2**20  # Pillow keeps RGB in 4 bytes a pixel
    assert statuses == [200] * 32
    assert peak[0] - idle < DECODE_SLOTS * 2 * one_decode, (idle, peak[0])
    assert settled - idle < 64, f"RSS {idle:.0f} MiB before, {settled:.0f} MiB after the burst"


def test_a_client_that_leaves_mid_body_costs_one_log_line(tiny_onnx):
    import socket

    with running_server(tiny_onnx, threads=1) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(3):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                             b"Content-Length: 100000\r\n\r\n" + png_bytes()[:50])
        time.sleep(1.0)
        assert burst(server.url, png_bytes(), requests=4, concurrency=2) == [200] * 4
        log = server.output()
    assert "Traceback" not in log, log
    assert log.count("disconnected after 50 bytes of the body of /classify") == 3, log
