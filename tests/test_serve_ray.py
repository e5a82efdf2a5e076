"""Ray Serve on the course app: the same answers and 4xx JSON as notebook 15 through Ray's proxy,
batching that answers exactly like one request at a time, one-line errors for settings that
cannot work, and no Ray process left behind. One local Ray for the module; no timing asserted."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers.paths import REPO_ROOT
from helpers.serve.app import MAX_BODY_BYTES, load_classifier
from helpers.serve.load import try_requests
from helpers.serve.shaped_load import per_second, staged_load

ray_app = pytest.importorskip("helpers.serve.ray_app", reason="ray[serve] is not installed")
ray_cluster = pytest.importorskip("helpers.serve.ray_cluster", reason="ray[serve] is not installed")
serve = ray_app.serve
PNG = {"content-type": "image/png"}


def digit_pngs(count: int = 10) -> list[bytes]:
    """``count`` different small RGB PNGs (seeded noise)."""
    out = []
    for seed in range(count):
        pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


@pytest.fixture(scope="module")
def served(tiny_onnx):
    """One local Ray (2 CPUs) with the app twice: /plain (no batching) and /batched."""
    started = ray_cluster.start_local_ray(num_cpus=2)
    try:
        deployment = ray_app.CourseClassifier.options(num_replicas=1, ray_actor_options={"num_cpus": 1})
        serve.run(deployment.bind(str(tiny_onnx), threads=1), name="plain", route_prefix="/plain")
        serve.run(deployment.bind(str(tiny_onnx), threads=1, max_batch_size=8,
                                  batch_wait_timeout_s=0.05), name="batched", route_prefix="/batched")
        yield started
    finally:
        ray_cluster.stop_local_ray()


def test_a_digit_gets_200_and_every_bad_request_a_4xx_json(served):
    good = digit_pngs(1)[0]
    bomb = io.BytesIO()
    Image.new("L", (5000, 5000)).save(bomb, format="PNG")
    bad = {"not an image": dict(content=b"hello", headers=PNG),
           "empty body": dict(content=b"", headers=PNG),
           "over the size limit": dict(content=bytes(MAX_BODY_BYTES + 1), headers=PNG),
           "decompression bomb": dict(content=bomb.getvalue(), headers=PNG),
           "wrong content type": dict(content=good, headers={"content-type": "application/json"}),
           "truncated": dict(content=good[: len(good) // 2], headers=PNG),
           "form without 'file'": dict(files={"image": ("d.png", good, "image/png")}),
           "k out of range": dict(content=good, headers=PNG, params={"k": 11})}
    with httpx.Client(base_url=served.url + "/plain", timeout=30) as client:
        first = client.post("/classify", content=good, headers=PNG, params={"k": 3})
        table = try_requests(client, "/classify", bad)
        after = client.post("/classify", content=good, headers=PNG)
        health = client.get("/health")
    assert first.status_code == 200 and len(first.json()["predictions"]) == 3
    assert table["status"].between(400, 499).all(), table
    assert (table.iloc[:, 1].str.len() > 0).all(), "every 4xx carries a JSON error"
    assert (table["health after"] == 200).all()
    assert after.status_code == 200 and health.json()["status"] == "ok"


def test_batched_answers_equal_one_at_a_time(served, tiny_onnx):
    images = digit_pngs(16)
    with httpx.Client(base_url=served.url, timeout=30) as client, ThreadPoolExecutor(16) as pool:
        def post(args):
            prefix, body = args
            response = client.post(f"{prefix}/classify", content=body, headers=PNG, params={"k": 10})
            response.raise_for_status()
            return response.json()["predictions"]

        batched = list(pool.map(post, [("/batched", b) for b in images]))
        plain = list(pool.map(post, [("/plain", b) for b in images]))
    for got, want in zip(batched, plain, strict=True):
        assert [p["label"] for p in got] == [p["label"] for p in want]
        assert np.allclose([p["probability"] for p in got], [p["probability"] for p in want],
                           atol=1e-6)
    info = ray_app.replica_info("batched")
    assert info["intra_op_threads"] == 1 and max(info["batch_sizes"]) <= 8
    assert sum(size * n for size, n in info["batch_sizes"].items()) >= len(images)


def test_classify_batch_is_one_run_with_the_per_image_answers(tiny_onnx):
    classifier = load_classifier(tiny_onnx, threads=1)
    images = digit_pngs(5)
    one_by_one = [classifier.classify_bytes(b, 3) for b in images]
    together = classifier.classify_batch([(classifier.prepare(b), 3) for b in images])
    for got, want in zip(together, one_by_one, strict=True):
        assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want["predictions"]]
        assert np.allclose([p["probability"] for p in got["predictions"]],
                           [p["probability"] for p in want["predictions"]], atol=1e-6)


def test_a_staged_load_with_retries_is_answered(served):
    rows = staged_load(served.url + "/plain/classify", digit_pngs(1)[0], [(1, 0.5), (4, 0.5)],
                       retries=2)
    assert (rows["status"] == 200).all() and set(rows["stage"]) == {0, 1}
    assert per_second(rows, 0.25)["throughput_rps"].sum() > 0


def test_deleting_one_app_frees_its_cpu_while_the_other_serves(served):
    pid = ray_app.replicas("batched", expected=1)[0]["pid"]
    ray_app.delete("batched")  # /plain still holds its CPU: delete waits for batched's only
    assert "batched" not in serve.status().applications and not ray_cluster.psutil.pid_exists(pid)
    assert ray_app.ray.available_resources().get("CPU", 0) >= 1
    with httpx.Client(base_url=served.url + "/plain", timeout=30) as client:
        assert client.post("/classify", content=digit_pngs(1)[0], headers=PNG).status_code == 200


@pytest.mark.parametrize(("call", "words"), [
    (lambda: ray_app.check_capacity(3, 1, cores=2), "3 replicas x 1 ORT threads = 3 threads on 2 cores"),
    (lambda: ray_app.check_capacity(1, 4, cores=2), "1 replicas x 4 ORT threads = 4 threads on 2 cores"),
    (lambda: ray_app.check_batching(0, 0.005), "max_batch_size must be an integer >= 1"),
    (lambda: ray_app.check_batching(8, 5.0), "batch_wait_timeout_s must be between 0 and 1 s"),
])
def test_bad_settings_get_one_clear_line(call, words):
    with pytest.raises(ray_app.ServeSettingsError) as error:
        call()
    assert words in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("args", [["--replicas", "999"], ["--max-batch-size", "0"]])
def test_the_command_refuses_bad_settings_in_one_line(args):
    done = subprocess.run([sys.executable, "-m", "helpers.serve", "--engine", "ray",
                           "--course-model", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_no_ray_process_is_left_after_stopping(served):
    assert served.pids, "start_local_ray found Ray's processes"
    left = ray_cluster.stop_local_ray()
    assert left == [] and ray_cluster.ray_processes() == []


def test_the_served_app_imports_without_onnx():
    """A replica imports the app for every start: the onnx package (a second of CPU) stays out."""
    code = "import sys, helpers.serve.app; assert 'onnx' not in sys.modules, 'onnx imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


FAKE_RAY = '''#!{python}
"""A stand-in for `ray start --block`: the head listens on its port, every node runs a child
named raylet until SIGTERM; a worker node fails its first start (FAKE_RAY_WORKER=fail-once)
or every start (fail), printing why."""
import os, signal, socket, subprocess, sys, time
args, folder = sys.argv[1:], os.environ["FAKE_RAY_DIR"]
with open(os.path.join(folder, "auth-modes"), "a") as modes:  # what each node was told
    print(os.environ.get("RAY_AUTH_MODE"), file=modes)
if "--head" in args:
    server = socket.socket()
    server.bind(("127.0.0.1", int(args[args.index("--port") + 1])))
    server.listen()
else:
    marker, mode = os.path.join(folder, "failed-once"), os.environ["FAKE_RAY_WORKER"]
    if mode == "fail" or not os.path.exists(marker):
        open(marker, "w").close()
        print("worker: could not reach the GCS", flush=True)
        sys.exit(3)
raylet = subprocess.Popen([os.path.join(folder, "raylet"), "60"])
signal.signal(signal.SIGTERM, lambda *_: (raylet.terminate(), raylet.wait(), sys.exit(0)))
time.sleep(60)
'''


@pytest.fixture()
def fake_ray(tmp_path, monkeypatch):
    """``ray_nodes`` runs FAKE_RAY instead of `ray` (no Ray is started): returns a setter for
    what a worker node does."""
    script = tmp_path / "ray"
    script.write_text(FAKE_RAY.replace("{python}", sys.executable))
    script.chmod(0o755)
    shutil.copy(shutil.which("sleep"), tmp_path / "raylet")  # a child whose name is raylet
    monkeypatch.setattr(ray_cluster, "_ray_command", lambda: str(script))
    monkeypatch.setenv("FAKE_RAY_DIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # as in a fresh kernel, with a token:
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))  # the head would ask for it
    return lambda mode: monkeypatch.setenv("FAKE_RAY_WORKER", mode)


def test_a_worker_node_that_does_not_come_up_is_started_once_more(fake_ray):
    fake_ray("fail-once")
    with ray_cluster.ray_nodes(cpus=(1, 1), start_timeout_s=30) as cluster:
        assert cluster.restarts == 1 and os.environ["RAY_ADDRESS"] == cluster.address
        modes = (Path(os.environ["FAKE_RAY_DIR"]) / "auth-modes").read_text().splitlines()
        assert modes == ["token"] * 3, "a token exists: every node, not only the head, uses it"
        pids = [p.pid for p in cluster.processes]
        pids += [c.pid for p in cluster.processes for c in ray_cluster.psutil.Process(p.pid).children()]
    assert len(pids) == 4 and not any(ray_cluster.psutil.pid_exists(pid) for pid in pids)
    assert "RAY_ADDRESS" not in os.environ


def test_a_worker_node_that_never_comes_up_is_named_with_its_output(fake_ray):
    fake_ray("fail")
    with pytest.raises(RuntimeError) as error, ray_cluster.ray_nodes(cpus=(1, 1), start_timeout_s=30):
        pass
    assert "worker node 1: `ray start` exited with status 3" in str(error.value)
    assert "could not reach the GCS" in str(error.value) and "RAY_ADDRESS" not in os.environ
