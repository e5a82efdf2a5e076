"""Notebook 15's exercise: a route ``POST /check?digit=D`` with its own 4xx answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from helpers.data.datasets import digit_png_paths
from helpers.serve.app import RequestError, image_bytes, load_classifier
from helpers.serve.load import LOCALHOST, free_port, serve_in_thread
from helpers.show.exercises import report_problems

PNG = {"content-type": "image/png"}


def exercise(model: str | Path) -> FastAPI:
    """An app like the notebook's on ``model`` with the one route the exercise asks for."""
    classifier = load_classifier(model, threads=1)
    app = FastAPI()
    app.state.classifier = classifier  # the check's reference, called in this process

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.post("/check")
    async def check(request: Request) -> dict:
        digit = request.query_params.get("digit")
        if digit not in classifier.labels:  # also None: the parameter is missing
            raise RequestError(422, f"query parameter digit={str(digit)[:40]!r}: expected one "
                                    f"of {', '.join(classifier.labels)}")
        data = await image_bytes(request)  # 415, 413 or 400 for a body that is no image
        answer = await run_in_threadpool(classifier.classify_bytes, data, len(classifier.labels))
        match = next(p for p in answer["predictions"] if p["label"] == digit)
        return {"digit": digit, "probability": match["probability"], "is_top": match["rank"] == 1}

    return app


def probabilities(classifier, data: bytes) -> np.ndarray:
    """The model's probabilities for one PNG, called in this process (the reference)."""
    predictions = classifier.classify_bytes(data, len(classifier.labels))["predictions"]
    return np.array([p["probability"] for p in sorted(predictions, key=lambda p: p["index"])])


def _json(reply: httpx.Response) -> dict:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problems(app, solution: FastAPI) -> list[str]:
    """Serve ``app`` on 127.0.0.1, send good and bad requests to ``/check``; what went wrong.

    The reference probabilities come from the solution's classifier, called in this process.
    """
    if not isinstance(app, FastAPI):
        return ["the answer is your FastAPI app (the object `app`, with the route added)"]
    found = []
    classifier = solution.state.classifier
    server = uvicorn.Server(uvicorn.Config(app, host=LOCALHOST, port=free_port(),
                                           log_level="critical"))
    with serve_in_thread(server) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        for path in digit_png_paths()[:2]:
            data = path.read_bytes()
            want = probabilities(classifier, data)
            for digit in (int(want.argmax()), int(want.argmin())):
                request = f"POST /check?digit={digit} with {path.name}"
                reply = client.post("/check", params={"digit": str(digit)}, content=data, headers=PNG)
                body = _json(reply)
                if reply.status_code != 200:
                    found.append(f"{request}: status {reply.status_code}, expected 200")
                elif not isinstance(body.get("probability"), (int, float)) or not np.isclose(
                        body["probability"], want[digit], rtol=1e-4, atol=1e-6):
                    found.append(f"{request}: 'probability' is not the model's probability of "
                                 "that digit")
                elif body.get("is_top") is not (digit == int(want.argmax())):
                    found.append(f"{request}: 'is_top' (a JSON true or false) is wrong")
        data = digit_png_paths()[0].read_bytes()
        bad = {"digit=12": ({"digit": "12"}, data, (422,)),  # name: query, body, statuses
               "digit=seven": ({"digit": "seven"}, data, (422,)),
               "no digit": ({}, data, (422,)),
               "digit=3 and a body that is no image": ({"digit": "3"}, b"hello", range(400, 500))}
        for name, (query, body, statuses) in bad.items():
            reply = client.post("/check", params=query, content=body, headers=PNG)
            expected = "422" if statuses == (422,) else "a 4xx"
            if reply.status_code not in statuses or "error" not in _json(reply):
                found.append(f"POST /check with {name}: status {reply.status_code}; expected "
                             f"{expected} with a JSON 'error' saying what was expected")
        if not running.alive():
            found.append("the server stopped while answering")
    return found


def is_correct(answer, solution: FastAPI) -> bool:
    """The check for the notebook: prints what is wrong, if anything."""
    return report_problems(problems(answer, solution))
