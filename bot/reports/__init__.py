"""Post-incident reports: built from the record (`build_report`), rendered with Jinja2 (Markdown, HTML), and
summarised for Slack. Pure Python: no Slack calls, no SQL."""

from .build import Fact, Item, Metric, Participant, Report, RootCauseView, TimelineRow, build_report, format_duration
from .model import (
    FollowupInput,
    LongTermFix,
    ReportInput,
    RootCauseInput,
    SeenBeforeInput,
    Step,
    parse_long_term,
    parse_steps,
)
from .render import ReportTemplateError, render_html, render_markdown
from .slack import markdown_for_slack, report_sections_for_slack, summary_blocks
from .text import CodeBlock, Span, from_slack, slack_safe

__all__ = [
    "CodeBlock",
    "Fact",
    "FollowupInput",
    "Item",
    "LongTermFix",
    "Metric",
    "Participant",
    "Report",
    "ReportInput",
    "ReportTemplateError",
    "RootCauseInput",
    "RootCauseView",
    "SeenBeforeInput",
    "Span",
    "Step",
    "TimelineRow",
    "build_report",
    "format_duration",
    "from_slack",
    "markdown_for_slack",
    "parse_long_term",
    "parse_steps",
    "render_html",
    "render_markdown",
    "report_sections_for_slack",
    "slack_safe",
    "summary_blocks",
]
