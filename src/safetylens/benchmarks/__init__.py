"""Built-in benchmarks. Importing this package registers them.

Third-party benchmarks register through the ``safetylens.benchmarks`` entry-point group, or by
naming their modules in ``SAFETYLENS_PLUGINS`` (comma-separated), which are imported here.
"""

import importlib
import os
from importlib.metadata import entry_points

from safetylens.benchmarks.base import (
    Benchmark,
    BenchmarkContext,
    BenchmarkResult,
    Sample,
    get,
    register,
    registry,
)

# Built-in benchmark modules: each registers itself on import.
_BUILTIN: list[str] = ["bold", "safety", "toxigen", "truthfulqa", "truthfulqa_mc", "xstest"]

for _mod in _BUILTIN:
    importlib.import_module(f"safetylens.benchmarks.{_mod}")
for _ep in entry_points(group="safetylens.benchmarks"):
    _ep.load()
for _mod in filter(None, (m.strip() for m in os.environ.get("SAFETYLENS_PLUGINS", "").split(","))):
    importlib.import_module(_mod)

__all__ = ["Benchmark", "BenchmarkContext", "BenchmarkResult", "Sample", "get", "register", "registry"]
