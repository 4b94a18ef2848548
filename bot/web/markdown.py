"""A stored report's Markdown as HTML for its page: CommonMark with tables, raw HTML in the Markdown shown as text
(never passed through), links only to safe schemes (markdown-it's own check refuses javascript:, data: and the like)."""

from __future__ import annotations

import functools

from markdown_it import MarkdownIt


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def report_html(markdown: str) -> str:
    return str(_parser().render(markdown))
