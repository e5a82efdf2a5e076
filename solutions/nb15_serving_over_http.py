"""Notebook 15's exercise: the service's top-3 labels for one digit PNG sent as a raw body."""

from __future__ import annotations

import httpx

from helpers.models.course import export_course_model
from helpers.paths import DIGITS_DIR, artifacts_dir
from helpers.serve.load import running_server


def exercise() -> list[str]:
    """Labels of the top 3 classes, best first, for digit_7_020.png posted as image/png."""
    path = export_course_model(artifacts_dir("nb15", "solution"))
    with running_server(path, threads=1) as server:
        response = httpx.post(f"{server.url}/classify", params={"k": 3},
                              content=(DIGITS_DIR / "digit_7_020.png").read_bytes(),
                              headers={"content-type": "image/png"}, timeout=30)
    response.raise_for_status()
    return [p["label"] for p in response.json()["predictions"]]
