"""Building a post-incident report from the record: the example's incident, and what is said when data is missing.

`example_input()` reconstructs the incident of ../shared/reference/post-incident-report-example.md from what the
bot would have recorded; the other report tests use it too.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.reports import CodeBlock, ReportInput, RootCauseInput, build_report, format_duration
from bot.reports.model import parse_long_term
from bot.reports.text import code, plain, text
from bot.storage.suggestions import SuggestionRecord
from bot.suggestions.parser import parse_runbook

OPENED = datetime(2024, 10, 24, 14, 30, tzinfo=UTC)
CITATION = (
    "`# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` -> "
    "`## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"
)
PG_QUERY = (
    "SELECT datname, pid, usename, application_name, client_addr, backend_start, state, wait_event_type, "
    "wait_event, query\nFROM pg_stat_activity\nWHERE datname = 'your_database_name'\n"
    "ORDER BY state, backend_start DESC;"
)
LONG_TERM = """\
1. Increase MAX_CONNECTIONS:
   - Description: raise the application pool size (`MAX_CONNECTIONS`) so more requests can hold a
     connection at once during peaks.
   - Action: set `database.max_connections` in the service's `config.yaml` to a value sized for expected
     peak traffic, then do a controlled restart.
   - Consideration: replicas x pool size must stay well below the PostgreSQL server `max_connections`.
2. Implement a Connection Pooling Proxy (PgBouncer):
   - Description: put PgBouncer in transaction-pooling mode between the services and PostgreSQL.
   - Action: deploy PgBouncer next to the database and load-test before switching production traffic.
"""
VERIFICATION = f"""\
Check `pg_stat_activity` for lingering zombie connections:
```sql
{PG_QUERY}
```
"""


def at(minutes: int) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def entry(minutes: int, kinds: tuple[str, ...], text: str, author: str = "Alice", **extra: object) -> TimelineEntry:
    return TimelineEntry(
        at=at(minutes),
        kinds=kinds,
        source=str(extra.pop("source", "message")),
        text=text,
        author_id="U" + author.upper(),
        author_name=author,
        ts=f"{at(minutes).timestamp():.6f}",
        **extra,  # type: ignore[arg-type]
    )


def example_incident(**changes: object) -> Incident:
    incident = Incident(
        id=1,
        team_id="T1",
        public_id="INC-2024-001",
        year=2024,
        number=1,
        title="API 500 Errors on User Service",
        description="Widespread 500 Internal Server Errors from the User Service API.",
        severity="sev1",
        status=Status.RESOLVED,
        opener_id="UALICE",
        opened_at=OPENED,
        commander_id="UBOB",
        channel_name="inc-2024-001-api-500-errors",
        acknowledged_at=at(3),
        mitigated_at=at(21),
        resolved_at=at(40),
    )
    return dataclasses.replace(incident, **changes)  # type: ignore[arg-type]


def example_timeline() -> tuple[TimelineEntry, ...]:
    return (
        entry(
            0,
            ("system",),
            "Incident opened by <@UALICE>: API 500 Errors on User Service",
            "incident-bot",
            source="system",
        ),
        entry(
            1,
            ("impact",),
            "Customers cannot log in: the login page returns `500 Internal Server Error` for most "
            "users &amp; the 500 rate spiked on the dashboards",
        ),
        entry(4, (), "looking at the logs now", "Bob"),
        entry(6, ("finding",), "API logs are full of `Timeout waiting for connection from pool`", "Bob"),
        entry(
            8,
            ("finding", "key_event"),
            'Also seeing "database connection pool exhaustion" and '
            '"hard connection acquisition failure" in the user-service logs',
            "Bob",
        ),
        entry(12, ("note",), "Marketing campaign went out at 14:25, request rate is 3x normal", "Carol", source="note"),
        entry(18, ("action_taken",), "Restarting: `sudo systemctl restart api-service`", "Bob"),
        entry(
            24,
            ("verification",),
            f"Checked pg_stat_activity after the restart:\n```{PG_QUERY}```\n"
            "Activity looks normal, no zombie connections.",
            "Carol",
        ),
        entry(40, ("system",), "Status changed to Resolved by <@UBOB>", "incident-bot", source="system"),
    )


def example_root_cause(**changes: object) -> RootCauseInput:
    cause = RootCauseInput(
        runbook="Database Connection Issues",
        error="ConnectionPoolTimeoutError",
        root_cause="Traffic Spike",
        score=0.91,
        citation=CITATION,
        evidence=(
            '"Timeout waiting for connection from pool" (log string) in: "API logs are full of Timeout waiting..."',
            'pool exhaustion, traffic (matches ConnectionPoolTimeoutError) in: "Also seeing database connection..."',
        ),
        alternatives=("Zombie Connections: no evidence mentioned", "Database Maintenance: no evidence mentioned"),
        accepted=True,
        description="Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.\n- Signs: request rate 3x.",
        remediation="1. Restart the affected service:\n   ```bash\n   sudo systemctl restart api-service\n   ```",
        verification=VERIFICATION,
        long_term=LONG_TERM,
        long_term_fixes=parse_long_term(LONG_TERM),
    )
    return dataclasses.replace(cause, **changes)  # type: ignore[arg-type]


def example_input(**changes: object) -> ReportInput:
    data = ReportInput(
        incident=example_incident(),
        severity_label="SEV1 · Critical",
        author="Technical Operations Team",
        generated_at=datetime(2024, 10, 24, 16, 2, tzinfo=UTC),
        version="Draft 1",
        participants=(("Alice", "Reporter"), ("Bob", "Incident commander"), ("Carol", "Database on-call")),
        timeline=example_timeline(),
        root_cause=example_root_cause(),
        channel_name="inc-2024-001-api-500-errors",
        user_names={"UALICE": "Alice", "UBOB": "Bob", "UCAROL": "Carol"},
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


def section(markdown: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = markdown.index(heading + "\n") + len(heading) + 1
    following = re.compile(rf"^#{{1,{level}}} ", re.M).search(markdown, start)
    return markdown[start : following.start() if following else len(markdown)]


def test_the_report_starts_when_the_incident_opened_and_quotes_the_first_impact_report() -> None:
    report = build_report(example_input())

    assert report.started == "14:30 UTC"
    assert report.started_long == "October 24, 2024, at approximately 14:30 UTC"
    assert report.impact_source == "impact report"
    assert "Customers cannot log in" in plain(report.impact)
    assert "users & the 500 rate" in plain(report.impact)  # Slack's &amp; undone


def test_an_impact_reported_before_the_incident_was_opened_moves_the_start_earlier() -> None:
    early = entry(-7, ("impact",), "Login page is down for everyone")
    data = example_input(timeline=(early, *example_timeline()))

    report = build_report(data)

    assert report.started == "14:23 UTC"
    assert report.start_source == "the first impact report"
    assert "14:23 UTC" in plain(report.summary[0])


def test_without_impact_reports_the_description_is_the_impact_and_without_it_impact_is_not_recorded() -> None:
    timeline = tuple(e for e in example_timeline() if "impact" not in e.kinds)

    from_description = build_report(example_input(timeline=timeline))
    not_recorded = build_report(example_input(timeline=timeline, incident=example_incident(description="")))

    assert from_description.impact_source == "description"
    assert "Widespread 500 Internal Server Errors" in plain(from_description.impact)
    assert not_recorded.impact_source == "not recorded"
    assert plain(not_recorded.impact) == "User impact was not recorded."


def test_log_strings_come_from_findings_and_the_evidence_in_order_without_repeats() -> None:
    report = build_report(example_input())

    assert report.log_strings == (
        "Timeout waiting for connection from pool",
        "database connection pool exhaustion",
        "hard connection acquisition failure",
    )


def test_commands_quoted_in_findings_are_not_log_strings() -> None:
    finding = entry(6, ("finding",), "`kubectl get pods` shows `CrashLoopBackOff`\nERROR: pool exhausted after 30000ms")

    report = build_report(example_input(timeline=(finding,), root_cause=None))

    assert report.log_strings == ("CrashLoopBackOff", "ERROR: pool exhausted after 30000ms")


def test_an_action_shows_its_command_and_the_next_verification_as_its_result() -> None:
    report = build_report(example_input())

    (action,) = report.actions
    facts = {fact.label: fact for fact in action.facts}
    assert plain(action.title) == "Restarting:"
    assert facts["Action"].text == (text("Executed "), code("sudo systemctl restart api-service"), text("."))
    assert plain(facts["Result"].text) == "14:54 UTC, Carol: Activity looks normal, no zombie connections."


def test_an_action_without_a_following_check_takes_its_thread_reply_as_result_or_says_none_was_recorded() -> None:
    action = entry(5, ("action_taken",), "$ kubectl -n prod rollout restart deployment/user-service", "Bob")
    reply = entry(7, (), "rollout finished, 500s are gone", "Bob")
    assert action.ts is not None
    with_reply = example_input(timeline=(action,), thread_replies={action.ts: (reply,)})

    answered = build_report(with_reply).actions[0]
    unanswered = build_report(example_input(timeline=(action,))).actions[0]

    assert plain(answered.facts[-1].text) == "14:37 UTC, Bob: rollout finished, 500s are gone."
    assert answered.facts[1].text[1] == code("kubectl -n prod rollout restart deployment/user-service")
    assert plain(unanswered.facts[-1].text).startswith("No result was recorded")


def test_a_verification_query_is_a_sql_block_and_the_text_after_it_the_result() -> None:
    report = build_report(example_input())

    (check,) = report.verifications
    facts = {fact.label: fact for fact in check.facts}
    assert plain(check.title) == "Checked pg_stat_activity after the restart:"
    assert facts["Action"].code == (CodeBlock(PG_QUERY, "sql"),)
    assert plain(facts["Result"].text) == "Activity looks normal, no zombie connections."


def test_long_term_fixes_keep_the_runbooks_description_action_and_consideration() -> None:
    report = build_report(example_input())

    first, second = report.long_term
    assert plain(first.title) == "Increase MAX_CONNECTIONS:"
    assert [fact.label for fact in first.facts] == ["Description", "Action", "Consideration"]
    assert plain(second.title) == "Implement a Connection Pooling Proxy (PgBouncer):"
    assert plain(first.facts[0].text).startswith("Raise the application pool size")


def test_without_a_root_cause_nothing_is_suggested_and_the_summary_says_it_is_not_determined() -> None:
    report = build_report(example_input(root_cause=None))

    assert report.root_cause is None
    assert report.runbook_remediation == ()
    assert report.runbook_verification == ()
    assert report.long_term == ()
    assert "without a root cause" in plain(report.long_term_intro)
    assert "The root cause has not been determined yet." in plain(report.summary[1])
    assert len(report.actions) == 1  # only what was recorded


def test_a_suggestion_not_yet_accepted_is_reported_as_the_bots_suggestion_with_its_confidence() -> None:
    report = build_report(example_input(root_cause=example_root_cause(accepted=False, score=0.734)))

    assert report.root_cause is not None
    assert "suggested by the bot with a confidence of 0.73" in plain(report.root_cause.statement)
    assert "not yet accepted" in plain(report.summary[1])


def test_a_runbook_that_is_gone_leaves_the_recorded_suggestion_and_says_so() -> None:
    gone = example_root_cause(description=None, remediation=None, verification=None, long_term=None, long_term_fixes=())

    report = build_report(example_input(root_cause=gone))

    assert report.root_cause is not None
    assert "Sudden increase in concurrent users" in plain(report.root_cause.statement)  # from the citation
    assert "no longer available" in plain(report.long_term_intro)


def test_metrics_are_measured_from_opening_and_missing_ones_are_not_yet_or_not_recorded() -> None:
    ongoing = example_incident(status=Status.ACKNOWLEDGED, mitigated_at=None, resolved_at=None)
    skipped = example_incident(acknowledged_at=None)

    resolved_metrics = {m.name: m.value for m in build_report(example_input()).metrics}
    ongoing_metrics = {m.name: m.value for m in build_report(example_input(incident=ongoing)).metrics}
    skipped_metrics = {m.name: m.value for m in build_report(example_input(incident=skipped)).metrics}

    assert resolved_metrics["Time to acknowledge"] == "3 min"
    assert resolved_metrics["Time to mitigate"] == "21 min"
    assert resolved_metrics["Time to resolve"] == "40 min"
    assert ongoing_metrics["Time to mitigate"] == "not yet"
    assert ongoing_metrics["Time to resolve"] == "not yet"
    assert skipped_metrics["Time to acknowledge"] == "not recorded"


def test_durations_read_in_minutes_hours_and_days() -> None:
    assert format_duration(timedelta(seconds=30)) == "under 1 min"
    assert format_duration(timedelta(minutes=12, seconds=59)) == "12 min"
    assert format_duration(timedelta(minutes=65)) == "1 h 5 min"
    assert format_duration(timedelta(days=2, hours=3)) == "2 d 3 h"


def test_the_timeline_shows_marked_events_notes_and_system_events_but_not_plain_chatter() -> None:
    report = build_report(example_input())

    kinds = [row.kinds for row in report.timeline]
    assert kinds == ["System", "Impact", "Finding", "Finding, Key event", "Note", "Action taken", "Verification",
                     "System"]  # fmt: skip
    assert report.timeline[0].time == "2024-10-24 14:30"
    assert plain(report.timeline[0].text) == "Incident opened by @Alice: API 500 Errors on User Service"


def test_a_deleted_message_keeps_its_row_but_not_its_text_or_its_influence() -> None:
    deleted = entry(2, ("impact",), "secret customer list", deleted=True)
    report = build_report(example_input(timeline=(deleted,)))

    assert plain(report.timeline[0].text) == "(message deleted)"
    assert report.impact_source == "description"


def test_the_same_input_gives_the_same_report() -> None:
    assert build_report(example_input()) == build_report(example_input())


def test_runbook_long_term_items_are_parsed_with_their_sub_lines() -> None:
    fixes = parse_long_term(LONG_TERM + "3. Alert at 80% of `max_connections`.\n")

    assert [f.name for f in fixes] == [
        "Increase MAX_CONNECTIONS",
        "Implement a Connection Pooling Proxy (PgBouncer)",
        "Alert at 80% of `max_connections`.",
    ]
    assert fixes[0].description.endswith("connection at once during peaks.")
    assert fixes[0].consideration.startswith("replicas x pool size")
    assert fixes[2].description == ""


RUNBOOK = f"""\
# Engineering Runbook: Database Connection Issues

## Error: ConnectionPoolTimeoutError

## Symptoms
- `Timeout waiting for connection from pool`

## Root Causes
1. Traffic Spike: Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.
   - Signs: request rate 3x normal.
2. Zombie Connections: Connections left `idle in transaction`.

## Remediation
1. Restart the affected service:
   ```bash
   sudo systemctl restart api-service
   ```

## Verification
{VERIFICATION}
## Long-Term Fixes
{LONG_TERM}"""


def suggestion_record(state: str = "accepted") -> SuggestionRecord:
    return SuggestionRecord(
        id=1,
        team_id="T1",
        incident_id=1,
        runbook="Database Connection Issues",
        runbook_path="database-connections.md",
        error="ConnectionPoolTimeoutError",
        root_cause="Traffic Spike",
        score=0.91,
        citation=CITATION,
        evidence=("e",),
        alternatives=("Zombie Connections: no evidence mentioned",),
        remediation="Restart the service (as recorded).",
        state=state,
        posted_at=OPENED,
    )


def test_a_stored_suggestion_takes_the_cause_and_sections_from_its_runbook() -> None:
    runbook = parse_runbook(RUNBOOK, "database-connections.md").runbook

    cause = RootCauseInput.from_record(suggestion_record(), runbook)

    assert cause.accepted
    assert cause.description is not None
    assert cause.description.startswith("Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.")
    assert cause.remediation is not None
    assert "sudo systemctl restart api-service" in cause.remediation
    assert cause.verification is not None
    assert "pg_stat_activity" in cause.verification
    assert [fix.name for fix in cause.long_term_fixes] == [
        "Increase MAX_CONNECTIONS",
        "Implement a Connection Pooling Proxy (PgBouncer)",
    ]


def test_a_stored_suggestion_whose_runbook_is_gone_keeps_what_was_recorded() -> None:
    cause = RootCauseInput.from_record(suggestion_record(state="posted"), None)

    assert not cause.accepted
    assert cause.description is None
    assert cause.remediation == "Restart the service (as recorded)."
    assert cause.long_term is None
    assert cause.long_term_fixes == ()
