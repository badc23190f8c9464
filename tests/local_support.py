"""Shared by the local product tests: a small trained model per session, free ports, raw HTTP calls."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

import pytest

from mysfits.project_files import load_catalog

CATALOG = load_catalog()["mysfits"]
BY_LABEL = {m["label"]: m for m in CATALOG}
MYSFIT_IDS = {m["mysfitId"] for m in CATALOG}
ENDPOINT = "mysfits-recommender"
SEED_ANSWERS = [1, 2, 3, 4, 5]


# Registered once for the session by conftest (pytest_plugins), so the model is trained once, not per module.
@pytest.fixture(scope="session", name="trained_model_dir")
def trained_model_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per session by the real training code (1M rows: a dense lattice trains fastest)."""
    from mysfits.ml.training import train

    out_dir = tmp_path_factory.mktemp("model")
    train(out_dir=out_dir, progress=False)
    assert (out_dir / "model.json").is_file()
    return out_dir


@pytest.fixture(scope="session", name="knn_model")
def knn_model_fixture(trained_model_dir: Path):
    from mysfits.ml.model import KnnModel

    return KnnModel.load(trained_model_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    url: str,
    method: str = "GET",
    path: str = "/",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (no path normalisation): status, lower-cased headers, body."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def expected_mysfit(model, answers: list[int]) -> dict:
    (label,) = model.predict([answers])
    return BY_LABEL[label]


def started_threads(server_owner) -> list:
    """The threads a LocalEndpoint/LocalProduct started (serving loops, the handler pool), as it records them."""
    return list(server_owner.started_threads)
