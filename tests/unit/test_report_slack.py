"""The report for Slack: a summary message within Block Kit's limits, and the full text in message-sized sections.
Also: a report of 10,000 timeline entries renders."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.domain.timeline import TimelineEntry
from bot.reports import build_report, render_html, render_markdown, report_sections_for_slack, summary_blocks

from .test_report_build import entry, example_incident, example_input

TEXTS = (
    "pool is maxed out again: `Timeout waiting for connection from pool` <@UALICE>",
    "Restarting: `sudo systemctl restart api-service`",
    "Checked:\n```SELECT count(*) FROM pg_stat_activity;```\nlooks fine | ok",
    "users report login failures &amp; 500s, see <https://status.example.com|status page>",
)
KINDS: tuple[tuple[str, ...], ...] = (
    (),
    ("impact",),
    ("finding",),
    ("action_taken",),
    ("verification",),
    ("note",),
    ("key_event",),
    ("system",),
)


def big_timeline(count: int) -> tuple[TimelineEntry, ...]:
    return tuple(entry(i // 10, KINDS[i % 8], TEXTS[i % 4], ("Alice", "Bob", "Carol")[i % 3]) for i in range(count))


def texts_of(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(block type, text) for every text in the blocks."""
    out: list[tuple[str, str]] = []
    for block in blocks:
        if "text" in block:
            out.append((block["type"], block["text"]["text"]))
        out.extend(("field", f["text"]) for f in block.get("fields", []))
        out.extend(("context", e["text"]) for e in block.get("elements", []))
    return out


def assert_within_block_kit_limits(blocks: list[dict[str, Any]]) -> None:
    assert 1 <= len(blocks) <= 50
    for kind, value in texts_of(blocks):
        limit = {"header": 150, "field": 2000, "context": 2000}.get(kind, 3000)
        assert 0 < len(value) <= limit, (kind, len(value))
    for block in blocks:
        assert len(block.get("fields", [])) <= 10


def test_the_summary_message_carries_the_key_facts() -> None:
    blocks = summary_blocks(build_report(example_input()))

    joined = "\n".join(value for _, value in texts_of(blocks))
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Post-incident report: API 500 Errors on User Service", "emoji": True},
    }
    for fact in ("INC-2024-001", "SEV1 · Critical", "Resolved", "Draft 1", "2024-10-24 14:30 UTC", "40 min",
                 "*Traffic Spike*", "`## Error: ConnectionPoolTimeoutError`",
                 "`sudo systemctl restart api-service`"):  # fmt: skip
        assert fact in joined
    assert_within_block_kit_limits(blocks)


def test_the_summary_without_a_root_cause_says_it_is_not_determined() -> None:
    blocks = summary_blocks(build_report(example_input(root_cause=None, timeline=())))

    joined = "\n".join(value for _, value in texts_of(blocks))
    assert "*Root cause:* not determined yet." in joined
    assert "No remediation action was recorded." in joined


def test_the_summary_stays_within_limits_whatever_the_length_of_what_was_written() -> None:
    huge = "x" * 5000 + " `" + "y" * 4000 + "`"
    data = example_input(
        incident=example_incident(title="T" * 400, description=huge),
        timeline=(entry(1, ("impact",), huge), entry(2, ("action_taken",), huge)),
        author="A" * 3000,
    )

    blocks = summary_blocks(build_report(data))

    assert_within_block_kit_limits(blocks)
    assert all(value.count("`") % 2 == 0 for _, value in texts_of(blocks))


def test_sections_are_cut_on_paragraphs_and_join_back_to_the_whole_report() -> None:
    markdown = render_markdown(build_report(example_input()))

    sections = report_sections_for_slack(markdown, limit=1000)

    assert "".join(sections) == markdown
    assert all(len(s) <= 1000 for s in sections)
    assert all(s.endswith("\n") for s in sections)
    assert all(s.count("```") % 2 == 0 for s in sections)  # no code block is cut


def test_a_code_block_longer_than_a_section_is_closed_and_reopened() -> None:
    code = "\n".join(f"SELECT {i} FROM pg_stat_activity;" for i in range(400))
    markdown = f"Query executed:\n\n    ```sql\n{code}\n    ```\n\nDone.\n"

    sections = report_sections_for_slack(markdown, limit=500)

    assert all(len(s) <= 500 for s in sections)
    assert all(len(re.findall(r"^ *```", s, re.M)) % 2 == 0 for s in sections)
    inner = sections[1:-1]
    assert all(s.startswith("    ```sql\n") and s.endswith("    ```") for s in inner)
    rebuilt = sections[0].removesuffix("    ```") + "".join(
        s.removeprefix("    ```sql\n").removesuffix("    ```") for s in inner
    )
    rebuilt += sections[-1].removeprefix("    ```sql\n")
    assert rebuilt == markdown


def test_a_line_longer_than_a_section_is_cut_without_losing_characters() -> None:
    markdown = "| 14:30 | Note | Ann | " + "word " * 2000 + "|\nend\n"

    sections = report_sections_for_slack(markdown, limit=3000)

    assert "".join(sections) == markdown
    assert all(len(s) <= 3000 for s in sections)


def test_sections_need_room_to_work_with() -> None:
    with pytest.raises(ValueError, match="at least"):
        report_sections_for_slack("text", limit=10)
    assert report_sections_for_slack("") == []


def test_a_report_of_ten_thousand_timeline_entries_renders_and_fits_slack() -> None:
    data = example_input(timeline=big_timeline(10_000))

    report = build_report(data)
    markdown = render_markdown(report)
    page = render_html(report)
    blocks = summary_blocks(report)
    sections = report_sections_for_slack(markdown)

    assert len(report.timeline) == 10_000 - 10_000 // 8  # unmarked plain messages are not events
    assert len(re.findall(r"^\| 2024-10-2\d \d\d:\d\d \|", markdown, re.M)) == len(report.timeline)
    assert page.count("<tr><td>") == len(report.timeline)
    assert_within_block_kit_limits(blocks)
    assert all(len(s) <= 3000 for s in sections)
    assert "".join(sections) == markdown
