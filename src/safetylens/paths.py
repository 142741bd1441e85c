"""Where safetylens keeps its cache, data and runs.

All locations can be moved with environment variables so that tests, CI and shared machines can
isolate them:

- ``SAFETYLENS_HOME``: root of the cache (default ``~/.cache/safetylens``).
- ``SAFETYLENS_DATA_DIR``: a directory laid out like the reference data mirror
  (``truthfulqa/TruthfulQA.csv``, ``bold/race_prompt.json``, ...). Files found there are verified
  by sha256 before use; when it is unset, data is read from ``$SAFETYLENS_HOME/data``.
- ``SAFETYLENS_CACHE``: path of the request cache database (default ``$SAFETYLENS_HOME/requests.sqlite``).
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Return the root directory of safetylens' cache, creating it if needed."""
    root = Path(os.environ.get("SAFETYLENS_HOME") or Path.home() / ".cache" / "safetylens")
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_cache_dir() -> Path:
    """Return the directory where fetched and imported data sets are installed."""
    path = home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path | None:
    """Return ``SAFETYLENS_DATA_DIR`` if set, else None."""
    value = os.environ.get("SAFETYLENS_DATA_DIR")
    return Path(value).expanduser() if value else None


def request_cache_path() -> Path:
    """Return the path of the SQLite request cache."""
    value = os.environ.get("SAFETYLENS_CACHE")
    return Path(value).expanduser() if value else home() / "requests.sqlite"


def artifacts_dir() -> Path:
    """Return the directory for derived artefacts (converted models, trained judges, classifiers)."""
    path = home() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
