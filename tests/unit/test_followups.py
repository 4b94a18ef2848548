"""Follow-ups without Slack: reading the command's words, the tracker settings in app.yaml and the environment,
Jira's document format, and the report's Follow-ups section."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_GITHUB_API_URL,
    ConfigError,
    FollowupSettings,
    GitHubExport,
    JiraExport,
    Secret,
    load_config,
)
from bot.domain.incident import Incident, Status
from bot.reports import FollowupInput, ReportInput, build_report, render_html, render_markdown
from bot.services.errors import UserError
from bot.services.followups import parse_due, parse_followup
from bot.trackers import GitHubTracker, JiraTracker, adf_document, tracker_for

SHIPPED_APP_YAML = Path(__file__).resolve().parents[2] / "app.yaml"
USAGE = "/incident followup <what> [@owner] [due <date>]"
TODAY = date(2026, 12, 6)  # a Sunday

MINIMAL = """\
command: /incident
severities:
  - name: sev1
    label: SEV1 · Critical
    description: Customer-facing outage
default_severity: sev1
"""


# --- due dates and the command's words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("2026-12-24", date(2026, 12, 24)),
        ("today", TODAY),
        ("Tomorrow", date(2026, 12, 7)),
        ("in 3 days", date(2026, 12, 9)),
        ("in 1 day", date(2026, 12, 7)),
        ("in 2 weeks", date(2026, 12, 20)),
        ("friday", date(2026, 12, 11)),
        ("next sunday", date(2026, 12, 13)),  # a weekday is always ahead, never today
    ],
)
def test_a_due_date_is_read_as_people_write_it(words: str, expected: date) -> None:
    assert parse_due(words, TODAY) == expected


@pytest.mark.parametrize("words", ["2026-02-30", "2026-13-01", "someday", "in a while", "24/12/2026"])
def test_words_that_are_no_date_give_none(words: str) -> None:
    assert parse_due(words, TODAY) is None


def test_the_owner_and_the_due_date_come_off_the_end_in_either_order() -> None:
    one = parse_followup("Raise the pool size <@U0BOB|bob> due 2026-12-24", TODAY, USAGE)
    other = parse_followup("Raise the pool size due tomorrow <@U0BOB>", TODAY, USAGE)

    assert (one.text, one.owner_id, one.due_on) == ("Raise the pool size", "U0BOB", date(2026, 12, 24))
    assert (other.text, other.owner_id, other.due_on) == ("Raise the pool size", "U0BOB", date(2026, 12, 7))


def test_a_mention_inside_the_text_stays_in_the_text_as_plain_words() -> None:
    asked = parse_followup("Ask <@U0ANN|ann> about the &lt;pool&gt; config", TODAY, USAGE)

    assert asked.text == "Ask @ann about the <pool> config"
    assert asked.owner_id is None


def test_due_followed_by_words_that_are_no_date_is_part_of_the_text() -> None:
    asked = parse_followup("Automate the due diligence checks", TODAY, USAGE)

    assert asked.text == "Automate the due diligence checks"
    assert asked.due_on is None


@pytest.mark.parametrize("words", ["due 2026-13-45", "due in many days", "due 24/12"])
def test_a_due_date_that_cannot_be_read_is_explained(words: str) -> None:
    with pytest.raises(UserError, match="could not read the due date") as refused:
        parse_followup(f"Rotate the keys {words}", TODAY, USAGE)

    assert "YYYY-MM-DD" in str(refused.value)
    assert USAGE in str(refused.value)


def test_a_due_date_in_the_past_is_refused() -> None:
    with pytest.raises(UserError, match="has passed"):
        parse_followup("Rotate the keys due 2026-12-01", TODAY, USAGE)


def test_a_followup_needs_words() -> None:
    with pytest.raises(UserError, match="What should be done"):
        parse_followup("<@U0BOB> due tomorrow", TODAY, USAGE)


# --- app.yaml and the environment ----------------------------------------------------------------------


def load(tmp_path: Path, followups: str, environ: dict[str, str] | None = None) -> FollowupSettings:
    path = tmp_path / "app.yaml"
    path.write_text(MINIMAL + textwrap.dedent(followups), encoding="utf-8")
    return load_config(path, environ or {}).followups


def test_without_a_followups_section_nothing_is_exported(tmp_path: Path) -> None:
    assert load(tmp_path, "") == FollowupSettings()
    assert load(tmp_path, "followups:\n  export: null\n") == FollowupSettings()
    assert tracker_for(FollowupSettings()) is None


def test_github_export_takes_its_token_and_api_url_from_the_environment(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """\
        followups:
          export:
            github:
              repository: acme/ops
              labels: [incident, follow-up]
        """,
        {"GITHUB_TOKEN": "ghp_secret", "GITHUB_API_URL": "http://127.0.0.1:9999/"},
    )

    assert settings.export == GitHubExport(
        repository="acme/ops",
        labels=("incident", "follow-up"),
        token=Secret("ghp_secret"),
        api_url="http://127.0.0.1:9999",
    )
    assert "ghp_secret" not in repr(settings)
    assert isinstance(tracker_for(settings), GitHubTracker)


def test_github_export_defaults_to_githubs_api_and_no_token(tmp_path: Path) -> None:
    settings = load(tmp_path, "followups:\n  export:\n    github:\n      repository: acme/ops\n")

    assert isinstance(settings.export, GitHubExport)
    assert settings.export.api_url == DEFAULT_GITHUB_API_URL
    assert settings.export.token is None


def test_jira_export_takes_its_credentials_and_api_url_from_the_environment(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """\
        followups:
          export:
            jira: {site: "https://acme.atlassian.net/", project: OPS, issue_type: Bug}
        """,
        {"JIRA_EMAIL": "bot@acme.com", "JIRA_API_TOKEN": "jira-secret", "JIRA_URL": "http://127.0.0.1:9998"},
    )

    assert settings.export == JiraExport(
        site="https://acme.atlassian.net",
        project="OPS",
        issue_type="Bug",
        email="bot@acme.com",
        token=Secret("jira-secret"),
        api_url="http://127.0.0.1:9998",
    )
    assert isinstance(tracker_for(settings), JiraTracker)


def test_jira_issue_type_defaults_to_task_and_the_api_to_the_site(tmp_path: Path) -> None:
    settings = load(tmp_path, "followups:\n  export:\n    jira: {site: 'https://acme.atlassian.net', project: OPS}\n")

    assert isinstance(settings.export, JiraExport)
    assert settings.export.issue_type == "Task"
    assert settings.export.base_url == "https://acme.atlassian.net"


@pytest.mark.parametrize(
    ("followups", "message"),
    [
        ("followups:\n  exports: {}\n", r"app\.yaml:8: followups\.exports: unknown key \(did you mean \"export\"\?\)"),
        (
            "followups:\n  export:\n    github: {repository: acme/ops}\n    jira: {site: 'https://a.atlassian.net', "
            "project: OPS}\n",
            r"app\.yaml:9: followups\.export: expected one tracker \(github or jira\), got both",
        ),
        ("followups:\n  export:\n    github: {repository: acme}\n", r"followups\.export\.github\.repository: expected"),
        ("followups:\n  export:\n    github: {labels: [x]}\n", r"followups\.export\.github\.repository: missing"),
        (
            "followups:\n  export:\n    jira: {site: 'http://acme.atlassian.net', project: OPS}\n",
            r"followups\.export\.jira\.site: expected a site like https://example\.atlassian\.net",
        ),
        (
            "followups:\n  export:\n    jira: {site: 'https://acme.atlassian.net', project: ops team}\n",
            r"followups\.export\.jira\.project: expected a project key like OPS",
        ),
    ],
)
def test_mistakes_in_the_followups_section_name_file_line_and_key(tmp_path: Path, followups: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, followups)


def test_a_tracker_url_that_is_no_url_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GITHUB_API_URL: expected an http"):
        load(tmp_path, "followups:\n  export:\n    github: {repository: acme/ops}\n", {"GITHUB_API_URL": "nope"})


def test_the_shipped_app_yaml_has_the_followups_section_and_documents_both_trackers() -> None:
    text = SHIPPED_APP_YAML.read_text(encoding="utf-8")

    assert re.search(r"^followups:\n(#.*\n|\s.*\n)*\s+export: null", text, re.MULTILINE)
    for key in ("github:", "repository:", "labels:", "jira:", "site:", "project:", "issue_type:"):
        assert re.search(rf"^\s*#\s+{key}", text, re.MULTILINE), key
    for variable in ("GITHUB_TOKEN", "GITHUB_API_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_URL"):
        assert variable in text
    assert load_config(SHIPPED_APP_YAML, {}).followups == FollowupSettings()


# --- Jira's document format ------------------------------------------------------------------------------


def test_plain_text_becomes_an_adf_document_of_paragraphs_with_hard_breaks() -> None:
    assert adf_document("First line\n\nOwner: Bob\nDue: 2026-12-24\n\n\n") == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "First line"}]},
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Owner: Bob"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "Due: 2026-12-24"},
                ],
            },
        ],
    }


# --- the report ---------------------------------------------------------------------------------------------


def report_input(*followups: FollowupInput) -> ReportInput:
    opened = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    incident = Incident(
        id=1,
        team_id="T1",
        public_id="INC-2026-001",
        year=2026,
        number=1,
        title="API 500 errors",
        description="",
        severity="sev1",
        status=Status.OPEN,
        opener_id="U1",
        opened_at=opened,
    )
    return ReportInput(
        incident=incident, severity_label="SEV1 · Critical", author="Ops", generated_at=opened, followups=followups
    )


def test_the_report_lists_followups_in_number_order_with_owner_due_state_and_issue() -> None:
    data = report_input(
        FollowupInput(
            number=2,
            text="Add PgBouncer",
            done=True,
            done_at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
            tracker="Jira",
            issue_id="OPS-7",
            issue_url="https://acme.atlassian.net/browse/OPS-7",
        ),
        FollowupInput(number=1, text="Raise *MAX_CONNECTIONS*", owner="Bob", due_on=date(2026, 12, 24)),
    )

    markdown = render_markdown(build_report(data))

    section = markdown[markdown.index("### 3.4. Follow-ups") : markdown.index("## 4. Timeline")]
    assert section.index("1.  Raise \\*MAX_CONNECTIONS\\*") < section.index("2.  Add PgBouncer")
    assert "    *   **Owner:** Bob\n    *   **Due:** 2026-12-24\n    *   **State:** Open" in section
    assert "**State:** Done on December 8, 2026" in section
    assert "**Tracked in:** Jira OPS-7: `https://acme.atlassian.net/browse/OPS-7`" in section
    assert "<h3>3.4. Follow-ups</h3>" in render_html(build_report(data))


def test_a_report_without_followups_says_so() -> None:
    markdown = render_markdown(build_report(report_input()))

    assert "### 3.4. Follow-ups\n\nNo follow-up actions were recorded.\n" in markdown
