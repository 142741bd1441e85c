"""Safe rendering of untrusted text (prompts, model responses, guidelines).

Model output is adversarial by design. Markdown is rendered with raw HTML disabled (so
``<script>`` and ``<img onerror=...>`` come out as visible text), and with links, autolinks and
images switched off, so nothing a model writes can load a resource or lead a rater to another
site. The result is then safe to insert into a Jinja template with ``|safe``; every other piece
of text goes through Jinja's autoescaping.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["image", "link", "autolink", "html_block", "html_inline"], ignoreInvalid=True)
    return md


def render_markdown(text: str) -> Markup:
    """Render Markdown to HTML with raw HTML, links and images disabled."""
    return Markup(_md().render(text or ""))
