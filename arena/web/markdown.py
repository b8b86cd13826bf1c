"""Model text to safe HTML: markdown with raw HTML off, then sanitised by nh3 (defence in depth)."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

_ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


# Replies sit under the page's "Reply A" / "Reply B" headings (h2), so a reply's own top-level heading becomes
# h3: a screen reader's outline then keeps each reply's sections inside that reply.
REPLY_TOP_HEADING = 3


def _nest_headings(tokens) -> None:
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    if not levels:
        return
    shift = REPLY_TOP_HEADING - min(levels)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"


# Replies are immutable and shown over and over: rendering is the battle page's main CPU cost, so keep the
# results for the texts seen lately (keyed by the text itself, so an edited text is never served stale).
@lru_cache(maxsize=2048)
def render_markdown(text: str) -> Markup:
    tokens = _md.parse(text)
    _nest_headings(tokens)
    html = _md.renderer.render(tokens, _md.options, {})
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)
