"""The root-cause engine: ranking, sibling causes, negation, the threshold, output, determinism and reloading."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.suggestions.engine import RunbookLibrary, Suggestion, SuggestionEngine
from bot.suggestions.model import RootCause, Runbook, RunbookError, Section, citation
from bot.suggestions.text import analyze, canonical

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_RUNBOOKS = ROOT / "runbooks"

Cause = tuple[str, str]  # (name, description with its "- Signs:" sub-bullets)


def error(name: str, symptoms: str, causes: Sequence[Cause], remediation: str = "") -> RunbookError:
    sections = [Section("symptoms", "## Symptoms", symptoms, 3)]
    if remediation:
        sections.append(Section("remediation", "## Remediation", remediation, 30))
    root_causes = tuple(
        RootCause(n, cause, text, 10 + n, f"{n}. {cause}: {text.splitlines()[0]}")
        for n, (cause, text) in enumerate(causes, start=1)
    )
    return RunbookError(name, f"## Error: {name}", 2, root_causes, tuple(sections), "## Root Causes")


def runbook(path: str, title: str, *errors: RunbookError) -> Runbook:
    return Runbook(path, title, f"# Engineering Runbook: {title}", errors)


DATABASE = runbook(
    "database.md",
    "Database Connection Issues",
    error(
        "ConnectionPoolTimeoutError",
        "- Sudden rise in `500 Internal Server Error` responses.\n"
        "- Application logs: `Timeout waiting for connection from pool`, `ConnectionPoolTimeoutError`.\n"
        "- Active connections pinned at the pool maximum, requests wait for a connection.",
        [
            (
                "Traffic Spike",
                "Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.\n"
                "   - Signs: request rate well above normal, a marketing campaign or launch, autoscaling events.",
            ),
            (
                "Zombie Connections",
                "Connections held by the application and never returned to the pool.\n"
                "   - Signs: traffic is normal, yet the pool is exhausted; sessions `idle in transaction`; "
                "used connections creep up over hours after a deploy.",
            ),
            (
                "Database Maintenance",
                "Queries hold connections longer because the database is busy: `VACUUM FULL`, `REINDEX`.\n"
                "   - Signs: a maintenance window or failover announced; sessions waiting on locks.",
            ),
        ],
        remediation="Restart the service; scale out if the database has headroom.",
    ),
)
MEMORY = runbook(
    "memory.md",
    "Memory Pressure",
    error(
        "OOMKilled",
        "- `kubectl describe pod` shows `Reason: OOMKilled, Exit Code: 137`.\n"
        "- Pod restart counter increasing; alert `KubePodOOMKilled`.",
        [
            (
                "Memory Leak",
                "The process keeps references it never releases.\n"
                "   - Signs: memory grows steadily over hours or days regardless of traffic, a saw-tooth graph.",
            ),
            (
                "Traffic Surge",
                "A burst of requests pushes memory up together with load.\n"
                "   - Signs: memory jumps within minutes in step with request rate; many pods killed at once.",
            ),
            (
                "Limit Too Low",
                "The container limit is below what the service needs.\n"
                "   - Signs: killed right after start or after a deploy that lowered the limit; usage flat.",
            ),
        ],
        remediation="Restart the service; raise the limit.",
    ),
)
DNS = runbook(
    "dns.md",
    "DNS Resolution Failures",
    error(
        "NXDOMAIN",
        "- Lookups fail with `NXDOMAIN` or `getaddrinfo ENOTFOUND`, `no such host`.",
        [
            ("Record Deleted", "The DNS record was removed.\n   - Signs: a Terraform apply just ran."),
            ("Wrong Search Domain", "A short name is looked up in the wrong namespace.\n   - Signs: FQDN works."),
        ],
        remediation="Restart the service after fixing the record.",
    ),
)
DISK = runbook(
    "disk.md",
    "Disk Space",
    error(
        "DiskFull",
        "- Writes fail with `No space left on device`; the filesystem is at 100%.",
        [
            ("Runaway Logs", "Logs grow faster than rotation.\n   - Signs: `/var/log` is the biggest thing in `du`."),
            ("Data Growth", "The data outgrew the volume.\n   - Signs: usage climbed steadily for weeks."),
        ],
        remediation="Restart the service once space is freed.",
    ),
)
CORPUS = [DATABASE, MEMORY, DNS, DISK]

EXAMPLE_INCIDENT = [
    "P1: 500s on the User Service API since 14:30 UTC, customers can't log in",
    "dashboards show a big spike in 500 Internal Server Errors on login",
    "app logs show database connection pool exhaustion and hard connection acquisition failures",
    "also lots of `Timeout waiting for connection from pool`",
    "looks like a sudden traffic spike, way more concurrent users than usual",
    "no sign of zombie connections or maintenance",
]
EXAMPLE_CITATION = (
    "`# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` -> "
    "`## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"
)


@pytest.fixture(scope="module")
def engine() -> SuggestionEngine:
    return SuggestionEngine(CORPUS)


def top(suggestions: Sequence[Suggestion]) -> tuple[str, str]:
    assert suggestions, "expected a suggestion"
    return suggestions[0].error_name, suggestions[0].root_cause_name


def score_of(suggestions: Sequence[Suggestion], cause: str) -> float:
    return next(s.score for s in suggestions if s.root_cause_name == cause)


# ------------------------------------------------------------------------------------------------ ranking


def test_a_pasted_log_string_outranks_a_few_symptom_words_of_another_error(engine: SuggestionEngine) -> None:
    messages = ["pods keep restarting and memory looks high", "logs: Timeout waiting for connection from pool"]

    ranked = engine.rank(messages, top=5)

    assert ranked[0].error_name == "ConnectionPoolTimeoutError"
    assert any('"Timeout waiting for connection from pool" (log string)' in line for line in ranked[0].evidence)


def test_a_log_string_matches_whatever_its_case_spacing_and_punctuation(engine: SuggestionEngine) -> None:
    ranked = engine.rank(["TIMEOUT   waiting for connection... from the pool!!"], top=1)

    assert ranked[0].error_name == "ConnectionPoolTimeoutError"
    assert any("(log string)" in line for line in ranked[0].evidence)


def test_part_of_a_long_log_string_still_counts_as_that_log_string() -> None:
    long_line = "HikariPool-1 - Connection is not available, request timed out after 30000ms while acquiring"
    custom = runbook("pool.md", "Pools", error("PoolTimeout", f"- `{long_line}`", [("Spike", "More users.")]))
    engine = SuggestionEngine([custom, MEMORY, DNS])

    ranked = engine.rank(["HikariPool-2 - Connection is not available, request timed out after 5000ms"], top=1)

    assert ranked[0].error_name == "PoolTimeout"
    assert any("(log string" in line and "of it)" in line for line in ranked[0].evidence)


@pytest.mark.parametrize(
    "message",
    [
        "user-service throws ConnectionPoolTimeoutError on every login",
        "we keep getting connection pool timeout errors",
        "2024-10-24T14:31:07Z ERROR c.z.h.pool.HikariPool - ConnectionPoolTimeoutError: gave up after 30s",
    ],
)
def test_an_error_name_is_recognised_in_camel_case_as_words_and_inside_a_log_line(
    engine: SuggestionEngine, message: str
) -> None:
    ranked = engine.rank([message], top=1)

    assert ranked[0].error_name == "ConnectionPoolTimeoutError"
    assert any("(error name)" in line for line in ranked[0].evidence)


def test_a_rare_word_weighs_more_than_words_that_every_runbook_uses(engine: SuggestionEngine) -> None:
    # "restart" and "service" are in every runbook, "lookups" only in the DNS one.
    common = ["we restart the service, restart the service again and again"]

    only_common = engine.rank(common, top=5)
    with_rare = engine.rank([*common, "lookups"], top=5)

    assert only_common == []
    assert with_rare[0].error_name == "NXDOMAIN"


# ------------------------------------------------------------------------------------------ sibling causes


def test_sibling_root_causes_are_told_apart_by_their_own_signs(engine: SuggestionEngine) -> None:
    crash = "pods OOMKilled, exit code 137"

    leak = engine.suggest([crash, "memory grows steadily over hours, a saw-tooth graph"])
    surge = engine.suggest([crash, "memory jumped within minutes together with the request rate"])

    assert top(leak) == ("OOMKilled", "Memory Leak")
    assert top(surge) == ("OOMKilled", "Traffic Surge")


def test_without_any_distinguishing_sign_the_causes_keep_the_runbook_order(engine: SuggestionEngine) -> None:
    ranked = engine.rank(["OOMKilled with exit code 137"], top=3)

    assert [s.root_cause_name for s in ranked] == ["Memory Leak", "Traffic Surge", "Limit Too Low"]
    assert len({s.score for s in ranked}) == 1


# ----------------------------------------------------------------------------------------------- negation


def test_ruling_out_maintenance_pushes_database_maintenance_down(engine: SuggestionEngine) -> None:
    symptoms = ["Timeout waiting for connection from pool on user-service", "sessions waiting on locks"]

    before = engine.rank(symptoms, top=3)
    after = engine.rank([*symptoms, "no sign of maintenance, vacuum is not running"], top=3)

    assert top(before) == ("ConnectionPoolTimeoutError", "Database Maintenance")
    assert top(after)[1] != "Database Maintenance"
    assert score_of(after, "Database Maintenance") < score_of(before, "Database Maintenance")
    assert any(a.startswith("Database Maintenance: ruled out") for a in after[0].alternatives)


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("no sign of maintenance", {"maintenance"}),
        ("vacuum is not running", {"vacuum"}),
        ("it's not a deploy", {"deploy"}),
        ("ruled out DNS", {"dns"}),
        ("DNS has been ruled out", {"dns"}),
        ("it wasn't the cache", {"cache"}),
        ("nothing in the logs about evictions", {"evictions"}),
        ("cpu looks fine", {"cpu"}),
        ("replication lag is normal", {"replication", "lag"}),
        ("the database looks healthy", {"database"}),
        ("doesn't look like DNS to me", {"dns"}),
        ("traffic hasn't changed all day", {"traffic"}),
    ],
)
def test_ruling_out_phrases_negate_the_words_they_are_about(text: str, negated: set[str]) -> None:
    analysis = analyze(text)

    ruled_out = {t.surface.lower() for t in analysis.tokens if t.ruled_out}

    assert negated <= ruled_out


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("we can't connect to the database", "connect"),
        ("not sure if it's the cache", "cache"),
        ("the cache, but not the database", "cache"),
        ("traffic is 4x normal for a thursday", "traffic"),
        ("memory is back to normal after the restart", "memory"),
    ],
)
def test_words_outside_a_negation_or_in_a_symptom_stay_positive(text: str, word: str) -> None:
    tokens = [t for t in analyze(text).tokens if t.term == canonical(word)]

    assert tokens
    assert not any(t.ruled_out for t in tokens)


def test_a_negation_that_describes_the_fault_matches_the_runbook_instead_of_counting_against_it(
    engine: SuggestionEngine,
) -> None:
    # "traffic is normal" is how the runbook describes zombie connections: the same words in chat point there.
    ranked = engine.rank(["Timeout waiting for connection from pool again", "traffic looks normal though"], top=3)

    assert top(ranked) == ("ConnectionPoolTimeoutError", "Zombie Connections")
    assert any(a.startswith("Traffic Spike: ruled out") for a in ranked[0].alternatives)


def test_a_later_message_that_rules_something_out_cancels_what_was_said_before(engine: SuggestionEngine) -> None:
    pool = "Timeout waiting for connection from pool"

    suspected = engine.rank([pool, "could be a maintenance window, sessions waiting on locks"], top=3)
    corrected = engine.rank(
        [pool, "could be a maintenance window, sessions waiting on locks", "no maintenance window today"], top=3
    )
    revived = engine.rank(
        [
            pool,
            "could be a maintenance window, sessions waiting on locks",
            "no maintenance window today",
            "correction: the provider did start a maintenance window, failover at 14:02",
        ],
        top=3,
    )

    assert top(suspected)[1] == "Database Maintenance"
    assert top(corrected)[1] != "Database Maintenance"
    assert top(revived)[1] == "Database Maintenance"


def test_no_to_a_question_rules_out_what_it_asked_about(engine: SuggestionEngine) -> None:
    start = ["pods OOMKilled, exit code 137", "memory jumps within minutes, many pods killed at once"]

    asked = engine.rank([*start, "memory leak?"], top=3)
    answered = engine.rank([*start, "memory leak?", "doesn't look like one"], top=3)

    assert score_of(answered, "Memory Leak") < score_of(asked, "Memory Leak")
    assert top(answered) == ("OOMKilled", "Traffic Surge")


# ----------------------------------------------------------------------------------------- text analysis


@pytest.mark.parametrize(
    "words",
    [
        ("exhausted", "exhaustion", "exhausting"),
        ("spikes", "spike", "spiked", "surge", "burst", "jump"),
        ("timeout", "timeouts"),
        ("500s", "5xx", "500"),
        ("oom", "oomkilled", "OOMKilled"),
        ("cert", "certificate", "certs"),
        ("k8s", "kubernetes"),
        ("db", "database", "databases"),
        ("conn", "connection", "connections"),
    ],
)
def test_inflections_and_incident_chat_synonyms_share_one_term(words: tuple[str, ...]) -> None:
    terms = {analyze(w).tokens[0].term for w in words}

    assert len(terms) == 1


@pytest.mark.parametrize(
    ("phrase", "word"),
    [("timed out", "timeout"), ("internal server error", "500s"), ("out of memory", "oom")],
)
def test_phrases_mean_the_same_as_their_one_word_form(phrase: str, word: str) -> None:
    assert [t.term for t in analyze(phrase).tokens] == [canonical(word.lower())]


# ---------------------------------------------------------------------------------------------- threshold


@pytest.mark.parametrize(
    "messages",
    [
        ["customers report a typo on the pricing page", "marketing will fix the copy in the cms"],
        ["who is on call this weekend?", "I'll swap with dana, can someone update pagerduty"],
        ["error"],
        ["the service"],
        ["users"],
        ["vacuum"],
    ],
)
def test_unrelated_chat_or_a_single_word_gets_no_suggestion(engine: SuggestionEngine, messages: list[str]) -> None:
    assert engine.suggest(messages) == []


def test_a_real_incident_gets_a_suggestion_above_the_threshold(engine: SuggestionEngine) -> None:
    suggestions = engine.suggest(EXAMPLE_INCIDENT)

    assert top(suggestions) == ("ConnectionPoolTimeoutError", "Traffic Spike")
    assert suggestions[0].score >= engine.threshold


def test_rank_shows_candidates_below_the_threshold_and_suggest_does_not(engine: SuggestionEngine) -> None:
    messages = ["lookups are slow"]

    ranked = engine.rank(messages, top=3)

    assert ranked
    assert all(s.score < engine.threshold for s in ranked)
    assert engine.suggest(messages) == []


def test_scores_are_confidences_between_zero_and_one_best_first(engine: SuggestionEngine) -> None:
    ranked = engine.rank(EXAMPLE_INCIDENT, top=10)

    assert all(0.0 <= s.score <= 1.0 for s in ranked)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_nothing_said_gives_nothing(engine: SuggestionEngine) -> None:
    assert engine.rank([], top=3) == []
    assert engine.suggest([""], top=3) == []
    assert engine.rank(EXAMPLE_INCIDENT, top=0) == []


# ------------------------------------------------------------------------------------------------- output


def test_a_suggestion_cites_the_runbook_path_and_explains_itself(engine: SuggestionEngine) -> None:
    best = engine.suggest(EXAMPLE_INCIDENT)[0]

    assert best.citation == citation(DATABASE, DATABASE.errors[0], DATABASE.errors[0].root_causes[0])
    assert (best.runbook_title, best.error_name, best.root_cause_name) == (
        "Database Connection Issues",
        "ConnectionPoolTimeoutError",
        "Traffic Spike",
    )
    assert any(
        line.startswith('"Timeout waiting for connection from pool" (log string) in: "also lots of `Timeout')
        for line in best.evidence
    )
    assert any("points to Traffic Spike" in line and "traffic spike" in line for line in best.evidence)
    assert "Zombie Connections: ruled out ('no sign of zombie connections or maintenance')" in best.alternatives
    assert "Database Maintenance: ruled out ('no sign of zombie connections or maintenance')" in best.alternatives


def test_a_cause_nobody_talked_about_is_said_to_have_no_evidence(engine: SuggestionEngine) -> None:
    best = engine.suggest(["pods OOMKilled, exit code 137", "memory grows steadily over hours, saw-tooth"])[0]

    assert "Limit Too Low: no evidence mentioned" in best.alternatives


def test_json_has_exactly_the_documented_keys(engine: SuggestionEngine) -> None:
    data = engine.suggest(EXAMPLE_INCIDENT)[0].to_json()

    assert set(data) == {"runbook", "error", "root_cause", "score", "citation", "evidence"}
    assert data["runbook"] == "Database Connection Issues"
    assert data["error"] == "ConnectionPoolTimeoutError"
    assert data["root_cause"] == "Traffic Spike"
    assert isinstance(data["score"], float)
    assert isinstance(data["evidence"], list)
    assert json.loads(json.dumps(data)) == data


# ------------------------------------------------------------------------------------------- determinism


def as_data(suggestions: Sequence[Suggestion]) -> list[tuple[object, ...]]:
    return [(json.dumps(s.to_json(), sort_keys=True), s.alternatives) for s in suggestions]


def test_the_same_conversation_twice_gives_the_same_output(engine: SuggestionEngine) -> None:
    first = engine.rank(EXAMPLE_INCIDENT, top=5)
    engine.forget()

    second = engine.rank(EXAMPLE_INCIDENT, top=5)

    assert as_data(first) == as_data(second)


def test_the_order_of_the_runbooks_does_not_matter() -> None:
    shuffled = list(CORPUS)
    random.Random(3).shuffle(shuffled)

    a = SuggestionEngine(CORPUS).rank(EXAMPLE_INCIDENT, top=5)
    b = SuggestionEngine(reversed(CORPUS)).rank(EXAMPLE_INCIDENT, top=5)
    c = SuggestionEngine(shuffled).rank(EXAMPLE_INCIDENT, top=5)

    assert as_data(a) == as_data(b) == as_data(c)


def test_message_by_message_gives_what_the_whole_conversation_gives(engine: SuggestionEngine) -> None:
    session = engine.session()
    for message in EXAMPLE_INCIDENT:
        session.add(message)

    incremental = session.rank(top=5)
    engine.forget()
    whole = engine.rank(EXAMPLE_INCIDENT, top=5)

    assert as_data(incremental) == as_data(whole)


def test_a_growing_conversation_ranks_as_if_it_were_new_each_time(engine: SuggestionEngine) -> None:
    grown = [engine.rank(EXAMPLE_INCIDENT[:n], top=3) for n in range(1, len(EXAMPLE_INCIDENT) + 1)]

    fresh = []
    for n in range(1, len(EXAMPLE_INCIDENT) + 1):
        engine.forget()
        fresh.append(engine.rank(EXAMPLE_INCIDENT[:n], top=3))

    assert [as_data(r) for r in grown] == [as_data(r) for r in fresh]


def test_ties_are_broken_by_runbook_path_error_position_and_cause_number() -> None:
    twin_a = runbook("a.md", "Twin", error("TwinError", "- `twin failure detected`", [("One", "x."), ("Two", "y.")]))
    twin_b = runbook("b.md", "Twin", error("TwinError", "- `twin failure detected`", [("One", "x."), ("Two", "y.")]))

    ranked = SuggestionEngine([twin_b, twin_a]).rank(["twin failure detected"], top=4)

    assert [(s.runbook.path, s.root_cause_name) for s in ranked] == [
        ("a.md", "One"),
        ("a.md", "Two"),
        ("b.md", "One"),
        ("b.md", "Two"),
    ]


# ----------------------------------------------------------------------------------------- the library


RUNBOOK_TEXT = """# Engineering Runbook: Queues

## Error: ConsumerLag

### Symptoms
- `kafka_consumergroup_lag` climbing on every partition.

### Root Causes
1. Slow Consumers: Each message takes longer to process.
   - Signs: processing time per message up.
2. Producer Burst: Much more is produced than usual.
   - Signs: produce rate several times normal.
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_library_reloads_when_a_runbook_changes_is_added_or_removed(tmp_path: Path) -> None:
    (tmp_path / "queues.md").write_text(RUNBOOK_TEXT, encoding="utf-8")
    clock = Clock()
    library = RunbookLibrary(tmp_path, check_interval=5.0, clock=clock)
    first = library.engine()
    lag = ["kafka_consumergroup_lag climbing", "produce rate 5x normal"]

    (tmp_path / "queues.md").write_text(RUNBOOK_TEXT.replace("ConsumerLag", "ConsumerBacklog"), encoding="utf-8")
    os.utime(tmp_path / "queues.md", ns=(1, 1))
    unchanged_yet = library.engine()
    clock.now += 5.0
    changed = library.engine()
    (tmp_path / "other.md").write_text(RUNBOOK_TEXT.replace("ConsumerLag", "OtherLag"), encoding="utf-8")
    clock.now += 5.0
    added = library.engine()
    (tmp_path / "other.md").unlink()
    clock.now += 5.0
    removed = library.engine()
    clock.now += 5.0

    assert first.rank(lag, top=1)[0].error_name == "ConsumerLag"
    assert unchanged_yet is first
    assert changed is not first
    assert changed.rank(lag, top=1)[0].error_name == "ConsumerBacklog"
    assert added.size == 2
    assert removed.size == 1
    assert library.engine() is removed
    assert library.loads == 4


def test_the_library_reports_problems_and_survives_a_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.md").write_text("just some text, no title and no error\n", encoding="utf-8")
    library = RunbookLibrary(tmp_path)
    missing = RunbookLibrary(tmp_path / "nope")

    assert library.engine().size == 0
    assert library.problems
    assert missing.engine().size == 0
    assert missing.problems


# ------------------------------------------------------------------------------- the example report's case


@pytest.fixture(scope="module")
def shipped() -> SuggestionEngine:
    if not (SHIPPED_RUNBOOKS / "database-connections.md").is_file():
        pytest.skip("runbooks/database-connections.md is not there yet")
    from bot.suggestions.parser import load_runbooks

    runbooks, _ = load_runbooks(SHIPPED_RUNBOOKS)
    return SuggestionEngine(runbooks)


def test_the_example_reports_incident_told_as_chat_is_a_traffic_spike(shipped: SuggestionEngine) -> None:
    suggestions = shipped.suggest(EXAMPLE_INCIDENT)

    assert top(suggestions) == ("ConnectionPoolTimeoutError", "Traffic Spike")
    assert suggestions[0].runbook_title == "Database Connection Issues"
    assert suggestions[0].citation == EXAMPLE_CITATION
    assert any(a.startswith("Zombie Connections: ruled out") for a in suggestions[0].alternatives)
    assert any(a.startswith("Database Maintenance: ruled out") for a in suggestions[0].alternatives)
