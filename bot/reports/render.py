"""Rendering a `Report` with Jinja2: Markdown (the default template, or a custom one) and HTML.

Templates get one variable, `report` (a `bot.reports.build.Report`). Every `{{ ... }}` is escaped for its output
automatically: plain strings and rich text (tuples of `Span`) become safe Markdown (or HTML), so a custom template
cannot forget to escape what responders wrote. Filters for the Markdown templates:

* `cell`: a table cell (`|` escaped, lines joined with `<br>`);
* `fence(indent)`: a `CodeBlock` as a fenced code block, every line indented by `indent` spaces;
* `code`: a string as inline code;
* `inline`: explicit inline rendering (what `{{ x }}` does anyway);
* `raw`: output as is, for the output of the template's own macros only (never for the report's data).

A template that does not compile, or uses a variable that does not exist (`StrictUndefined`), raises
`ReportTemplateError` naming the file and the line.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
)
from markupsafe import Markup

from .build import Report
from .text import CodeBlock, Span, html_inline, md_code_span, md_fence, md_inline, neutralise_pings

TEMPLATES = Path(__file__).resolve().parent / "templates"
MARKDOWN_TEMPLATE = "report.md.j2"
HTML_TEMPLATE = "report.html.j2"


class ReportTemplateError(Exception):
    """A report template that cannot be used: the message names the file and the line."""


class _Markdown(str):
    """Already-escaped Markdown: `finalize` leaves it alone."""

    __slots__ = ()


def _is_rich(value: object) -> bool:
    return isinstance(value, tuple) and (not value or isinstance(value[0], Span))


def _md_finalize(value: Any) -> str:
    if isinstance(value, _Markdown):
        return value
    if value is None:
        return ""
    if isinstance(value, str) or _is_rich(value):
        return md_inline(value)
    if isinstance(value, CodeBlock):
        return md_fence(value)
    return md_inline(str(value))


def _md_inline(value: Any) -> _Markdown:
    return _Markdown(_md_finalize(value))


def _md_cell(value: Any) -> _Markdown:
    if value is None:
        return _Markdown("")
    if isinstance(value, str) or _is_rich(value):
        return _Markdown(md_inline(value, cell=True) or " ")
    return _Markdown(md_inline(str(value), cell=True))


def _md_fence(value: Any, indent: int = 0) -> _Markdown:
    block = value if isinstance(value, CodeBlock) else CodeBlock(str(value))
    return _Markdown(md_fence(block, indent))


def _md_code(value: Any) -> _Markdown:
    return _Markdown(md_code_span(str(value)))


def _html_finalize(value: Any) -> Any:
    if _is_rich(value):
        return Markup(html_inline(value))
    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralise_pings(value)  # autoescaped after this
    return value


def _html_inline(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    if isinstance(value, str) or _is_rich(value):
        return Markup(html_inline(value))
    return Markup(html_inline(str(value)))


def _environment(loader: BaseLoader, html: bool) -> Environment:
    finalize: Callable[[Any], Any] = _html_finalize if html else _md_finalize
    env = Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    if html:
        env.filters.update(inline=_html_inline, unping=neutralise_pings)
    else:
        env.filters.update(inline=_md_inline, cell=_md_cell, fence=_md_fence, code=_md_code, raw=_Markdown)
    return env


@functools.cache
def _default(name: str) -> Template:
    env = _environment(FileSystemLoader(str(TEMPLATES)), html=name.endswith(".html.j2"))
    return env.get_template(name)


def _line_of(error: BaseException, filename: str | None) -> int | None:
    """The template line a render error happened on (Jinja maps template frames to the template's lines)."""
    line: int | None = None
    for frame in traceback.extract_tb(error.__traceback__):
        if filename is not None and frame.filename == filename:
            line = frame.lineno
    return line


def _render(template: Template, report: Report, path: Path) -> str:
    try:
        return template.render(report=report)
    except Exception as error:
        line = _line_of(error, template.filename)
        where = f"{path}, line {line}" if line is not None else str(path)
        raise ReportTemplateError(f"{where}: {type(error).__name__}: {error}") from error


def _load(path: Path, html: bool) -> Template:
    env = _environment(FileSystemLoader(str(path.parent)), html=html)
    try:
        return env.get_template(path.name)
    except TemplateSyntaxError as error:
        where = error.filename or str(path)
        raise ReportTemplateError(f"{where}, line {error.lineno}: {error.message}") from error
    except TemplateNotFound as error:
        raise ReportTemplateError(f"{path}: report template not found ({error})") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ReportTemplateError(f"{path}: cannot read the report template ({error})") from error


def render_markdown(report: Report, template_path: Path | None = None) -> str:
    """The report as Markdown, with the default template or `template_path` (which replaces it)."""
    if template_path is None:
        return _render(_default(MARKDOWN_TEMPLATE), report, TEMPLATES / MARKDOWN_TEMPLATE)
    return _render(_load(template_path, html=False), report, template_path)


def render_html(report: Report) -> str:
    """The report as a standalone HTML page (autoescaped)."""
    return _render(_default(HTML_TEMPLATE), report, TEMPLATES / HTML_TEMPLATE)
