"""Rendering the report as Markdown (the example's structure), as HTML, and with a custom template."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.reports import ReportTemplateError, build_report, render_html, render_markdown

from .test_report_build import CITATION, PG_QUERY, example_incident, example_input, section

EXAMPLE_HEADINGS = [
    "# Post-Incident Report: API 500 Errors on User Service",
    "## 1. Executive Summary",
    "## 2. Root Cause",
    "## 3. Remediation Taken/Suggested",
    "### 3.1. Immediate Remediation Taken",
    "### 3.2. Post-Incident Investigation (Verification)",
    "### 3.3. Long-Term Remediation Suggested",
]


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("#")]


def test_the_report_has_the_examples_headings_in_order_then_timeline_metrics_and_participants() -> None:
    markdown = render_markdown(build_report(example_input()))

    assert headings(markdown) == [
        *EXAMPLE_HEADINGS,
        "### 3.4. Follow-ups",
        "## 4. Timeline",
        "## 5. Metrics",
        "## 6. Participants",
    ]


def test_the_example_incident_yields_the_examples_report_with_its_key_facts() -> None:
    markdown = render_markdown(build_report(example_input()))

    positions = [markdown.index(f"\n{heading}\n") for heading in EXAMPLE_HEADINGS[1:]]
    assert positions == sorted(positions)
    assert "at approximately 14:30 UTC" in markdown
    assert "`Timeout waiting for connection from pool`" in markdown
    assert "`database connection pool exhaustion`" in markdown
    assert "`hard connection acquisition failure`" in markdown
    assert "**Traffic Spike**" in markdown
    assert f"**Citing Runbook Section:**\n{CITATION}\n" in markdown
    assert "`sudo systemctl restart api-service`" in markdown
    assert re.search(r"```sql\n\s*SELECT datname, pid.*\n\s*FROM pg_stat_activity\n", markdown)
    assert "MAX_CONNECTIONS" in markdown
    assert "PgBouncer" in markdown


def test_the_header_names_the_incident_date_author_and_version() -> None:
    markdown = render_markdown(build_report(example_input()))

    assert markdown.startswith(
        "# Post-Incident Report: API 500 Errors on User Service\n\n"
        "**Incident ID:** INC-2024-001\n"
        "**Report Date:** 2024-10-24\n"
        "**Author:** Technical Operations Team\n"
        "**Status:** Draft 1 (incident resolved)\n\n---\n\n## 1. Executive Summary\n"
    )


def test_the_summary_is_prose_in_the_examples_style() -> None:
    summary = section(render_markdown(build_report(example_input())), "## 1. Executive Summary")

    assert "On October 24, 2024, at approximately 14:30 UTC, a SEV1 incident was triggered due to" in summary
    assert "**Traffic Spike**" in summary
    assert "`sudo systemctl restart api-service`" in summary
    assert "Increase MAX\\_CONNECTIONS" not in summary  # an underscore inside a word is not escaped
    assert "Increase MAX_CONNECTIONS and Implement a Connection Pooling Proxy (PgBouncer)" in summary


def test_the_root_cause_section_gives_the_cause_in_bold_its_reasoning_and_the_citation_path() -> None:
    root = section(render_markdown(build_report(example_input())), "## 2. Root Cause")

    assert "The most likely root cause for Incident INC-2024-001 is **Traffic Spike**" in root
    reasoning = [m.group(1) for m in re.finditer(r"^\*   \*\*([^*]+):\*\*", root, re.M)]
    assert reasoning == [
        "Sudden Onset",
        "Log Analysis",
        "Correlation with Runbook",
        "Primary Cause Identified",
        "Other Root Causes",
    ]
    assert "At 14:30 UTC" in root
    for log_string in (
        "Timeout waiting for connection from pool",
        "database connection pool exhaustion",
        "hard connection acquisition failure",
    ):
        assert f"`{log_string}`" in root
    assert "**Zombie Connections**: no evidence mentioned" in root
    assert "**Database Maintenance**: no evidence mentioned" in root
    assert f"**Citing Runbook Section:**\n{CITATION}\n" in root


def test_remediation_shows_the_command_the_query_and_the_long_term_fixes() -> None:
    markdown = render_markdown(build_report(example_input()))
    taken = section(markdown, "### 3.1. Immediate Remediation Taken")
    verification = section(markdown, "### 3.2. Post-Incident Investigation (Verification)")
    long_term = section(markdown, "### 3.3. Long-Term Remediation Suggested")

    assert "1.  **Restarting:**\n" in taken
    assert "    *   **Action:** Executed `sudo systemctl restart api-service`.\n" in taken
    assert "    *   **Result:** 14:54 UTC, Carol: Activity looks normal, no zombie connections.\n" in taken
    indented_query = "\n".join("        " + line for line in PG_QUERY.splitlines())
    assert f"    *   **Action:** Query executed:\n        ```sql\n{indented_query}\n        ```\n" in verification
    assert "1.  **Increase MAX_CONNECTIONS:**\n    *   **Description:** Raise" in long_term
    assert "2.  **Implement a Connection Pooling Proxy (PgBouncer):**" in long_term
    assert "*   **Consideration:**" in long_term


def test_without_a_root_cause_the_report_says_so_and_suggests_nothing() -> None:
    markdown = render_markdown(build_report(example_input(root_cause=None)))

    assert "The root cause has not been determined yet." in section(markdown, "## 2. Root Cause")
    assert "has not been determined" in section(markdown, "## 1. Executive Summary")
    assert "Citing Runbook Section" not in markdown
    assert "runbook's remediation steps" not in markdown
    assert "No runbook-based long-term fixes" in section(markdown, "### 3.3. Long-Term Remediation Suggested")
    assert "PgBouncer" not in markdown
    assert "`sudo systemctl restart api-service`" in section(markdown, "### 3.1. Immediate Remediation Taken")


def test_the_timeline_is_a_table_with_one_row_per_event() -> None:
    timeline = section(render_markdown(build_report(example_input())), "## 4. Timeline")

    rows = [line for line in timeline.splitlines() if line.startswith("|")]
    assert rows[0] == "| Time (UTC) | Kind | Author | Event |"
    assert len(rows) == 2 + 8
    assert "| 2024-10-24 14:48 | Action taken | Bob | Restarting: `sudo systemctl restart api-service` |" in rows


def test_the_html_report_has_the_same_sections() -> None:
    page = render_html(build_report(example_input()))

    titles = re.findall(r"<h[123]>(.*?)</h[123]>", page)
    assert titles[: len(EXAMPLE_HEADINGS)] == [h.lstrip("# ") for h in EXAMPLE_HEADINGS]
    assert "<strong>Traffic Spike</strong>" in page
    assert '<pre><code class="language-sql">SELECT datname' in page


def test_a_custom_template_replaces_the_default_one(tmp_path: Path) -> None:
    template = tmp_path / "short.md.j2"
    template.write_text(
        "{{ report.public_id }}: {{ report.title }}\n"
        "{% if report.root_cause %}\n"
        "{{ report.root_cause.name }}\n"
        "{% endif %}\n"
    )

    markdown = render_markdown(build_report(example_input()), template)

    assert markdown == "INC-2024-001: API 500 Errors on User Service\nTraffic Spike\n"


def test_a_custom_template_escapes_what_it_shows_without_being_told(tmp_path: Path) -> None:
    template = tmp_path / "raw.md.j2"
    template.write_text("{{ report.title }}\n")
    data = example_input(incident=example_incident(title="<!channel> *now*"))

    assert render_markdown(build_report(data), template) == "&lt;!channel> \\*now\\*\n"


def test_a_broken_template_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "broken.md.j2"
    template.write_text("# {{ report.title }}\n\n{% for row in report.timeline %}\n{{ row.time }}\n")

    with pytest.raises(ReportTemplateError) as raised:
        render_markdown(build_report(example_input()), template)

    assert str(template) in str(raised.value)
    assert "line 4" in str(raised.value)


def test_an_undefined_variable_in_a_template_is_an_error_with_its_line(tmp_path: Path) -> None:
    template = tmp_path / "typo.md.j2"
    template.write_text("# {{ report.title }}\n\n{{ report.titel }}\n")

    with pytest.raises(ReportTemplateError) as raised:
        render_markdown(build_report(example_input()), template)

    assert str(template) in str(raised.value)
    assert "line 3" in str(raised.value)
    assert "titel" in str(raised.value)


def test_a_missing_template_is_an_error_naming_the_file(tmp_path: Path) -> None:
    template = tmp_path / "nowhere.md.j2"

    with pytest.raises(ReportTemplateError, match=r"nowhere\.md\.j2"):
        render_markdown(build_report(example_input()), template)
