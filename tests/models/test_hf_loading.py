"""Loading: GGUF conversion cache, local directories, identity, and clear errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from safetylens.errors import BackendUnavailable, ConfigError, ModelError
from safetylens.models.builtin import GGUF_SHA256, builtin_gguf_path
from safetylens.spec import ModelSpec

PROBE = "The quick brown fox jumps over the lazy dog. Q: What is 2+2?\nA:"


def _logits(backend: Any) -> torch.Tensor:
    ids = backend.tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits: torch.Tensor = backend.model(torch.tensor([ids])).logits
    return logits


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty SAFETYLENS_HOME for this module, so the GGUF conversion really runs."""
    home = tmp_path_factory.mktemp("slhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETYLENS_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def converted(fresh_home: Path) -> Iterator[tuple[Any, Any]]:
    """The built-in model loaded twice in a fresh home: converted from GGUF, then from the cache."""
    from safetylens.models.hf import HFBackend

    first = HFBackend.from_spec(ModelSpec(name="builtin", threads=2))
    second = HFBackend.from_spec(ModelSpec(name="smollm2", threads=2))
    yield first, second
    first.close()
    second.close()


@pytest.mark.model
def test_gguf_conversion_is_cached_and_bit_identical(converted: tuple[Any, Any], fresh_home: Path) -> None:
    from safetylens.models.hf import CONVERT_MANIFEST, conversion_dir, conversion_is_valid

    first, second = converted
    import transformers

    target = conversion_dir(GGUF_SHA256, transformers.__version__)
    assert target.parent == fresh_home / "artifacts" / "models"
    assert first.identity.info["conversion_cache"] == "written"
    assert second.identity.info["conversion_cache"] == "hit"
    assert first.identity.info["conversion_dir"] == second.identity.info["conversion_dir"] == str(target)
    assert conversion_is_valid(target, GGUF_SHA256)
    manifest = json.loads((target / CONVERT_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["gguf_sha256"] == GGUF_SHA256 and "model.safetensors" in manifest["files"]
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    # The identity is the GGUF file's, whichever way the weights were read.
    assert first.identity.fingerprint() == second.identity.fingerprint()
    assert first.identity.weights_sha256 == GGUF_SHA256
    assert torch.equal(_logits(first), _logits(second))
    assert torch.equal(first.model.model.embed_tokens.weight, second.model.model.embed_tokens.weight)
    # A linear layer packed for oneDNN holds its weight re-laid out; its dense form is the weight.
    down = [b.model.model.layers[7].mlp.down_proj.weight for b in (first, second)]
    assert torch.equal(*(w.to_dense() if w.is_mkldnn else w for w in down))


@pytest.mark.model
def test_damaged_conversion_is_detected(converted: tuple[Any, Any], tmp_path: Path) -> None:
    import shutil

    from safetylens.models.hf import conversion_is_valid

    target = Path(converted[0].identity.info["conversion_dir"])
    copy = tmp_path / "copy"
    shutil.copytree(target, copy)
    assert conversion_is_valid(copy, GGUF_SHA256)
    assert not conversion_is_valid(copy, "0" * 64)  # a conversion of another file
    with open(copy / "tokenizer.json", "r+b") as fh:  # same size, one byte changed (mtime moves)
        first_byte = fh.read(1)
        fh.seek(0)
        fh.write(b"[" if first_byte != b"[" else b"{")
    assert not conversion_is_valid(copy, GGUF_SHA256)
    shutil.copytree(target, tmp_path / "copy2")
    with open(tmp_path / "copy2" / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    assert not conversion_is_valid(tmp_path / "copy2", GGUF_SHA256)
    (tmp_path / "copy3").mkdir()
    assert not conversion_is_valid(tmp_path / "copy3", GGUF_SHA256)


@pytest.mark.model
def test_local_directory_model(converted: tuple[Any, Any], fresh_home: Path) -> None:
    from safetylens.models.hf import HASH_MEMO, HFBackend

    first, _ = converted
    directory = Path(first.identity.info["conversion_dir"])
    backend = HFBackend.from_spec(ModelSpec(name=str(directory), threads=2))
    ident = backend.identity
    assert ident.model == directory.name and ident.info["source_kind"] == "dir"
    assert ident.weights_sha256 and ident.weights_sha256 != GGUF_SHA256
    assert len(ident.extra["config_sha256"]) == 64
    assert ident.chat_template == first.identity.chat_template and ident.chat_template_source == "tokenizer"
    assert torch.equal(_logits(backend), _logits(first))
    memo = json.loads((fresh_home / "artifacts" / HASH_MEMO).read_text(encoding="utf-8"))
    assert str((directory / "model.safetensors").resolve()) in memo
    backend.close()
    with pytest.raises(ModelError, match="closed"):
        backend.loglikelihood([])


@pytest.mark.model
def test_identity_contents(builtin_backend: Any) -> None:
    import transformers

    ident = builtin_backend.identity
    fp = ident.fingerprint()
    assert fp["backend"] == "hf" and fp["backend_version"] == transformers.__version__
    assert fp["weights_sha256"] == GGUF_SHA256 and fp["dtype"] == "float32"
    assert fp["extra"]["torch"] == torch.__version__
    assert fp["chat_template_sha256"] and "chat_template" not in fp
    assert "device" not in fp and ident.info["device"] == "cpu"
    assert ident.info["shared_context"] is True
    assert ident.chat_template_source == "tokenizer" and "<|im_start|>" in (ident.chat_template or "")
    assert builtin_backend.forward_batch_size == 8 and builtin_backend.supports_loglikelihood
    # 2 threads: two batches decoded at once, so 16 requests are handed over at a time.
    assert builtin_backend.decode_workers == ident.info["decode_workers"] == 2 and builtin_backend.batch_size == 16
    assert "decode_workers" not in fp["extra"], "like the thread count, not part of the cache key"


def test_bad_paths_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.models.hf import HFBackend

    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path / "home"))
    with pytest.raises(ModelError, match="not found"):
        HFBackend.from_spec(ModelSpec(name=str(tmp_path / "nope.gguf")))
    fake = tmp_path / "fake.gguf"
    fake.write_text("this is not a model", encoding="utf-8")
    with pytest.raises(ModelError, match="not a GGUF file"):
        HFBackend.from_spec(ModelSpec(name=str(fake)))
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ModelError, match=r"no config\.json"):
        HFBackend.from_spec(ModelSpec(name=str(empty_dir)))
    (empty_dir / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError) as err:
        HFBackend.from_spec(ModelSpec(name=str(empty_dir)))
    assert err.value.hint and "--gguf-file m.gguf" in err.value.hint
    with pytest.raises(ModelError, match="not found in"):
        HFBackend.from_spec(ModelSpec(name=str(empty_dir), gguf_file="other.gguf"))
    with pytest.raises(ConfigError, match="revision"):
        HFBackend.from_spec(ModelSpec(name=str(fake), revision="abc"))
    with pytest.raises(ConfigError, match="device"):
        HFBackend.from_spec(ModelSpec(name="builtin", device="tpu"))
    with pytest.raises(ModelError, match="cuda:99"):
        HFBackend.from_spec(ModelSpec(name="builtin", device="cuda:99"))
    with pytest.raises(ConfigError, match="chat template file not found"):
        HFBackend.from_spec(ModelSpec(name="builtin", chat_template=str(tmp_path / "t.jinja")))


def test_truncated_gguf_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.models.hf import HFBackend

    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path / "home"))
    broken = tmp_path / "broken.gguf"
    with open(builtin_gguf_path(), "rb") as src:
        broken.write_bytes(src.read(100_000))  # cut inside the metadata
    with pytest.raises(ModelError, match="cannot load GGUF file") as err:
        HFBackend.from_spec(ModelSpec(name=str(broken)))
    assert err.value.hint and "corrupt" in err.value.hint
    assert not (tmp_path / "home" / "artifacts" / "models").exists() or not any(
        (tmp_path / "home" / "artifacts" / "models").iterdir()
    )


def test_missing_stack_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.models import hf

    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(BackendUnavailable, match="transformers") as err:
        hf._import_stack()
    assert err.value.hint and "safetylens[hf]" in err.value.hint
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailable, match="PyTorch"):
        hf._import_stack()


def test_file_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from safetylens.models.hf import HASH_MEMO, file_sha256

    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path / "home"))
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc" * 1000)
    assert file_sha256(f) == hashlib.sha256(b"abc" * 1000).hexdigest()
    memo_file = tmp_path / "home" / "artifacts" / HASH_MEMO
    memo = json.loads(memo_file.read_text(encoding="utf-8"))
    assert memo[str(f.resolve())]["size"] == 3000
    f.write_bytes(b"abd" * 1000)  # same size, new mtime: hashed again
    os.utime(f, ns=(1, 1))
    assert file_sha256(f) == hashlib.sha256(b"abd" * 1000).hexdigest()


def test_unknown_hub_id_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.models.hf import _commit_of, resolve_source

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # Fails the same way with a network (no such repository) and without one (cannot connect).
    with pytest.raises(ModelError, match="cannot fetch 'safetylens-tests/no-such-model-3f9c'") as err:
        resolve_source(ModelSpec(name="safetylens-tests/no-such-model-3f9c", revision="main"))
    assert err.value.hint and "HF_HUB_OFFLINE" in err.value.hint
    snapshot = Path("/c/models--org--m/snapshots/0123abcd/sub/model.gguf")
    assert _commit_of(snapshot) == "0123abcd" and _commit_of(Path("/x/y")) is None
