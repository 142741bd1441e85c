"""Shared fixtures.

- Every test gets its own request cache (``SAFETYLENS_CACHE``) so tests never share answers.
- ``SAFETYLENS_DATA_DIR`` points at the reference data mirror (``.ci/run`` sets it; locally the
  ``../shared/datasets`` folder beside the checkout is used). Tests that need real data fail with
  a clear message when it is missing: they are never skipped silently.
- ``builtin_backend`` loads the built-in model once per test session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _find_shared_data() -> Path | None:
    env = os.environ.get("SAFETYLENS_DATA_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    candidate = REPO.parent / "shared" / "datasets"
    return candidate if candidate.is_dir() else None


SHARED_DATA = _find_shared_data()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETYLENS_CACHE", str(tmp_path / "requests.sqlite"))
    if SHARED_DATA is not None:
        monkeypatch.setenv("SAFETYLENS_DATA_DIR", str(SHARED_DATA))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The reference data mirror; fails (not skips) when it is missing."""
    if SHARED_DATA is None:
        pytest.fail("reference data not found: set SAFETYLENS_DATA_DIR to a copy of shared/datasets (.ci/run does)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def builtin_backend() -> Iterator[Any]:
    """The built-in model on the hf backend, greedy-capable, loaded once per session."""
    from safetylens.models import load_backend
    from safetylens.spec import ModelSpec

    backend = load_backend(ModelSpec(name="builtin", batch_size=8, threads=2))
    yield backend
    backend.close()


@pytest.fixture
def no_shipped_offline_scorers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide the toxicity probe and TruthfulQA judges shipped with the package, for tests of an untrained cache."""
    from safetylens.scorers import toxicity, truthfulqa_judges

    missing = tmp_path / "no-shipped-artefacts"
    monkeypatch.setattr(toxicity, "SHIPPED_PROBE", missing / "toxicity.json")
    monkeypatch.setattr(
        truthfulqa_judges, "SHIPPED_JUDGES", {a: missing / f"{a}.json" for a in truthfulqa_judges.ASPECTS}
    )
