"""Real components for tests and local serving.

- :mod:`safetylens.testing.openai_server`: an OpenAI-compatible HTTP server in front of any
  :class:`~safetylens.models.base.ModelBackend`, with fault injection (429/500 answers, delays) and
  a record of concurrent requests, for tests of the ``openai`` backend and for serving a local model
  (``python -m safetylens.testing.openai_server --model builtin``).
- :mod:`safetylens.testing.token_scorers`: per-token log-probabilities of a transformers model,
  which the server needs for ``echo``/``logprobs`` and vLLM's ``prompt_logprobs``.

Nothing here is imported by the core package.
"""
