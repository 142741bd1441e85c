"""Chat templates: turn a conversation into the exact text a local model sees.

Templates are applied explicitly, never implicitly inside tokenisation: a conversation is rendered
to text with the tokenizer's Jinja template (or a ``--chat-template FILE`` override) and
``add_generation_prompt=True``; that text is what is tokenised, recorded as the rendered prompt and
hashed into the manifest. Raw-string prompts pass through unchanged.

Special tokens: a rendered chat already carries whatever special tokens the template writes (most
templates start with the BOS token), so it is tokenised without adding any, as transformers' own
``apply_chat_template(tokenize=True)`` does. A raw prompt gets the tokenizer's usual special tokens
(BOS for Llama-style models) unless it already starts with the BOS text, so BOS is never doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetylens.errors import ConfigError, ModelError
from safetylens.models.base import Prompt
from safetylens.util import sha256_text


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template and where it came from.

    Attributes:
        text: The template source.
        source: ``"tokenizer"`` for the model's own template, else the path of the override file.
    """

    text: str
    source: str

    @property
    def sha256(self) -> str:
        """Hash of the template text (part of the model identity's fingerprint)."""
        return sha256_text(self.text)


def load_template_file(path: str | Path) -> ChatTemplate:
    """Read a chat template override file.

    Raises:
        ConfigError: The file is missing, unreadable or empty.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"chat template file not found: {file}", hint="pass the path of a Jinja template file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read chat template {file}: {exc}") from exc
    if not text.strip():
        raise ConfigError(f"chat template {file} is empty")
    return ChatTemplate(text=text, source=str(file.resolve()))


def template_from_tokenizer(tokenizer: Any) -> ChatTemplate | None:
    """Return the tokenizer's own chat template, or None when it has none.

    Some tokenizers carry several named templates (a dict); the ``default`` one is used, as
    transformers does.
    """
    raw = getattr(tokenizer, "chat_template", None)
    if isinstance(raw, dict):
        raw = raw.get("default")
    if not isinstance(raw, str) or not raw.strip():
        return None
    return ChatTemplate(text=raw, source="tokenizer")


class ChatFormatter:
    """Renders prompts and tokenises them the way the model will see them.

    Args:
        tokenizer: A transformers tokenizer (provides ``apply_chat_template`` and the special tokens
            the template may reference).
        template: The chat template to use; None when the model has none (chats then fail with a
            clear error, raw prompts still work).
    """

    def __init__(self, tokenizer: Any, template: ChatTemplate | None) -> None:
        self.tokenizer = tokenizer
        self.template = template

    @property
    def is_chat(self) -> bool:
        """Whether a chat template exists."""
        return self.template is not None

    def render(self, prompt: Prompt) -> str:
        """Return the exact text the model sees for ``prompt``.

        Raises:
            ModelError: The prompt is a conversation and no template exists, or the template
                rejects the conversation (for example roles that do not alternate).
        """
        if isinstance(prompt, str):
            return prompt
        if self.template is None:
            raise ModelError(
                "this model has no chat template, so a conversation cannot be formatted",
                hint="pass --chat-template FILE, or run with --chat no to send raw prompts",
            )
        messages = [m.to_json() for m in prompt]
        try:
            text = self.tokenizer.apply_chat_template(
                messages, chat_template=self.template.text, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # Jinja raises its own errors, and templates call raise_exception()
            raise ModelError(
                f"chat template ({self.template.source}) failed on a conversation: {exc}",
                hint="check the template, or the roles and order of the messages",
            ) from exc
        if not isinstance(text, str):
            raise ModelError(f"chat template ({self.template.source}) returned {type(text).__name__}, not text")
        return text

    def add_special_tokens(self, prompt: Prompt, text: str) -> bool:
        """Whether tokenising ``text`` (rendered from ``prompt``) should add the tokenizer's special tokens."""
        if not isinstance(prompt, str):
            return False
        bos = getattr(self.tokenizer, "bos_token", None)
        return not (isinstance(bos, str) and bos and text.startswith(bos))

    def encode(self, prompt: Prompt) -> tuple[str, list[int]]:
        """Render ``prompt`` and return ``(text, token ids)`` exactly as they are fed to the model."""
        text = self.render(prompt)
        ids = self.tokenizer(text, add_special_tokens=self.add_special_tokens(prompt, text))["input_ids"]
        return text, list(ids)
