"""Fixtures for the data tests: an isolated SAFETYLENS_HOME and a real HTTP mirror on 127.0.0.1."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from _data_mirror import Mirror, MirrorHandler, MirrorServer


@pytest.fixture
def mirror(tmp_path: Path, shared_data_dir: Path) -> Iterator[Mirror]:
    """A real HTTP server on 127.0.0.1 serving a temp dir in the raw.githubusercontent.com layout."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = MirrorServer(("127.0.0.1", 0), partial(MirrorHandler, directory=str(root)))
    server.faults = {}
    server.hits = Counter()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Mirror(url=f"http://{host!s}:{port}", root=root, server=server, shared=shared_data_dir)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated SAFETYLENS_HOME with no SAFETYLENS_DATA_DIR or mirror; returns the data cache dir."""
    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAFETYLENS_DATA_DIR", raising=False)
    monkeypatch.delenv("SAFETYLENS_DATA_MIRROR", raising=False)
    return tmp_path / "home" / "data"
