"""Chat rendering and special-token handling (models/chat.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from safetylens.errors import ConfigError, ModelError
from safetylens.models.base import Message
from safetylens.models.chat import ChatFormatter, ChatTemplate, load_template_file, template_from_tokenizer


def _bos_tokenizer() -> Any:
    """A real fast tokenizer that adds BOS, like Llama's (the built-in model's does not)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4, "[INST]": 5, "[/INST]": 6}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


LLAMA_LIKE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"
)


def test_no_double_bos_with_a_template_that_writes_bos() -> None:
    tok = _bos_tokenizer()
    fmt = ChatFormatter(tok, ChatTemplate(LLAMA_LIKE, "test"))
    text, ids = fmt.encode((Message("user", "hello world"),))
    assert text == "<s>[INST] hello world [/INST]"
    assert ids == [1, 5, 3, 4, 6]  # exactly one BOS, from the template
    # The tokenizer on its own would have doubled it: this is what the formatter avoids.
    assert tok(text)["input_ids"][:2] == [1, 1]


def test_raw_prompts_get_bos_once() -> None:
    fmt = ChatFormatter(_bos_tokenizer(), None)
    assert fmt.encode("hello world") == ("hello world", [1, 3, 4])
    assert fmt.encode("<s> hello") == ("<s> hello", [1, 3])


@pytest.mark.model
def test_render_equals_apply_chat_template(builtin_backend: Any) -> None:
    tok = builtin_backend.tokenizer
    convs = [
        (Message("user", "What is the capital of France?"),),
        (Message("system", "Be brief."), Message("user", "Hi <b>there</b> {{ not jinja }}")),
        (Message("user", "a"), Message("assistant", "b"), Message("user", "c")),
    ]
    for conv in convs:
        expected = tok.apply_chat_template([m.to_json() for m in conv], tokenize=False, add_generation_prompt=True)
        assert builtin_backend.render(conv) == expected
        ids = tok.apply_chat_template([m.to_json() for m in conv], tokenize=True, add_generation_prompt=True)
        assert builtin_backend._encode_prompt(conv)[1] == list(ids["input_ids"])
    # The built-in template inserts its default system prompt when there is none.
    assert "You are a helpful AI assistant named SmolLM" in builtin_backend.render(convs[0])
    assert builtin_backend.render(convs[0]).endswith("<|im_start|>assistant\n")
    assert builtin_backend.is_chat


@pytest.mark.model
def test_raw_prompts_pass_through_unchanged(builtin_backend: Any) -> None:
    for raw in ["The capital of France is", "  spaces  \n\n", "<|im_start|>user\nhi<|im_end|>\n", ""]:
        assert builtin_backend.render(raw) == raw
    tok = builtin_backend.tokenizer
    text = "Q: What is 2+2?\nA:"
    assert builtin_backend._encode_prompt(text) == (text, tok(text)["input_ids"])


@pytest.mark.model
def test_template_override_file(builtin_backend: Any, tmp_path: Path) -> None:
    from safetylens.models.hf import HFBackend

    path = tmp_path / "plain.jinja"
    path.write_text(
        "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}",
        encoding="utf-8",
    )
    template = load_template_file(path)
    backend = HFBackend(
        builtin_backend.model,
        builtin_backend.tokenizer,
        model_name="override-test",
        weights_sha256=builtin_backend.identity.weights_sha256,
        chat_template=template,
    )
    conv = (Message("system", "S"), Message("user", "U"))
    assert backend.render(conv) == "SYSTEM: S\nUSER: U\nASSISTANT:"
    ident = backend.identity
    assert ident.chat_template_source == str(path.resolve())
    assert ident.chat_template_sha256 == template.sha256 != builtin_backend.identity.chat_template_sha256
    assert ident.fingerprint()["chat_template_sha256"] == template.sha256


def test_template_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_template_file(tmp_path / "missing.jinja")
    empty = tmp_path / "empty.jinja"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_template_file(empty)


def test_chat_without_template_and_failing_template() -> None:
    tok = _bos_tokenizer()
    with pytest.raises(ModelError, match="no chat template") as err:
        ChatFormatter(tok, None).render((Message("user", "hello"),))
    assert err.value.hint and "--chat-template" in err.value.hint
    strict = ChatTemplate("{{ raise_exception('roles must alternate') }}", "strict.jinja")
    with pytest.raises(ModelError, match="roles must alternate"):
        ChatFormatter(tok, strict).render((Message("user", "hello"),))


def test_template_from_tokenizer_variants() -> None:
    tok = _bos_tokenizer()
    assert template_from_tokenizer(tok) is None
    tok.chat_template = {"default": LLAMA_LIKE, "tool_use": "x"}
    found = template_from_tokenizer(tok)
    assert found is not None and found.text == LLAMA_LIKE and found.source == "tokenizer"
