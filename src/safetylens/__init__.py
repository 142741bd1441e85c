"""safetylens: evaluate language models for safety, truthfulness, toxicity and bias.

The public API is deliberately small; see the README for the concepts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("safetylens")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
