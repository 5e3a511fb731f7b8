"""Step instructions are Markdown, rendered and then sanitised (nh3, an allow-list HTML
sanitiser): what an author types can never run a script on an operator's screen."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "code",
    "pre",
    "blockquote",
    "h3",
    "h4",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "a",
}


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    # A relative link ("/admin/", "../batches/3/") would open a page of this installation,
    # with the operator's session, from a screen made by an author: its link is dropped and
    # its text stays.
    if tag == "a" and attribute == "href":
        return value if value.lower().startswith(("https://", "http://")) else None
    return value


def render_instructions(text: str) -> str:
    html = _markdown.render(text or "")
    return nh3.clean(
        html,
        tags=TAGS,
        attributes={"a": {"href"}},
        url_schemes={"https", "http"},
        link_rel="noopener noreferrer",
        attribute_filter=_absolute_links_only,
    )
