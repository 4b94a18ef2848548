"""Issue 10's matching: hypotheses weigh less than observations, measurements of nothing rule causes out, the
longest log string absorbs a sibling's shorter one, `Said as:` wordings, Snowball stems, learning from decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.suggestions.engine import SuggestionEngine
from bot.suggestions.lint import lint
from bot.suggestions.parser import parse_runbook
from bot.suggestions.text import analyze, canonical, stem

from .test_engine import CORPUS, DATABASE, error, runbook

POOL = "ConnectionPoolTimeoutError: Timeout waiting for connection from pool"


@pytest.fixture(scope="module")
def engine() -> SuggestionEngine:
    return SuggestionEngine(CORPUS)


def evidence(
    engine: SuggestionEngine, messages: list[str], cause: str, title: str | None = None
) -> tuple[float, float]:
    """(error evidence, root-cause evidence) of `cause` after the messages."""
    session = engine.session()
    if title is not None:
        session.put("title", title, at=0.0, hypothesis=True)
    session.extend(messages)
    found = next(s for s in session.rank(top=10) if s.cause.name == cause)
    return found.error_evidence, found.cause_evidence


@pytest.mark.parametrize(
    "text",
    [
        "probably a traffic spike",
        "maybe a traffic spike",
        "could be a traffic spike",
        "is it a traffic spike?",
        "traffic spike again, like in April",
    ],
)
def test_a_hedged_or_questioned_mention_is_a_hypothesis_it_points_to_the_error_but_not_to_a_cause(
    engine: SuggestionEngine, text: str
) -> None:
    baseline = evidence(engine, [POOL], "Traffic Spike")
    observed = evidence(engine, [POOL, "a traffic spike"], "Traffic Spike")

    hypothesised = evidence(engine, [POOL, text], "Traffic Spike")

    assert baseline[0] < hypothesised[0] < observed[0]
    assert hypothesised[1] == baseline[1] < observed[1]


def test_the_title_counts_as_a_hypothesis_not_as_an_observation(engine: SuggestionEngine) -> None:
    as_message = evidence(engine, ["traffic spike on login", POOL], "Traffic Spike")

    as_title = evidence(engine, [POOL], "Traffic Spike", title="traffic spike on login")

    assert 0 < as_title[0] < as_message[0]
    assert as_title[1] < as_message[1]


def test_a_hypothesis_does_not_count_as_a_message_that_observed_the_cause(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.put("title", "Traffic spike?", at=0.0, hypothesis=True)
    session.extend([POOL, "maybe a traffic spike, request rate well above normal?"])
    guessed = next(s for s in session.rank(top=10) if s.cause.name == "Traffic Spike")

    session.add("request rate is well above normal, a marketing campaign launched")
    observed = next(s for s in session.rank(top=10) if s.cause.name == "Traffic Spike")

    assert guessed.cause_messages == 0
    assert observed.cause_messages == 1


@pytest.mark.parametrize(
    ("text", "measured"),
    [
        ("evicted_keys is 0", {"evicted", "keys"}),
        ("consumer lag is ~0", {"consumer", "lag"}),
        ("restarts: 0", {"restarts"}),
        ("0 evictions in the last hour", {"evictions"}),
        ("zero restarts since friday", {"restarts"}),
    ],
)
def test_a_measurement_of_nothing_rules_out_what_it_measures(text: str, measured: set[str]) -> None:
    ruled_out = {t.surface.lower() for t in analyze(text).tokens if t.ruled_out}

    assert measured <= ruled_out


@pytest.mark.parametrize("text", ["error rate went from 0 to 38%", "went from 0.1% to 38%", "lag dropped to 0"])
def test_numbers_that_are_not_a_measurement_of_nothing_rule_nothing_out(text: str) -> None:
    assert not any(t.ruled_out for t in analyze(text).tokens)


def test_a_measurement_that_refutes_a_cause_is_linked_back_to_it(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.extend([POOL, "the marketing campaign launched at 14:00, autoscaling events too"])
    before = session.rank(top=3)
    session.add("campaign traffic: 0, autoscaling events: 0, it did not go out yet")
    after = session.rank(top=3)

    assert before[0].cause.name == "Traffic Spike"
    assert after[0].cause.name != "Traffic Spike"
    spike = next(s for s in session.rank(top=10) if s.cause.name == "Traffic Spike")
    assert spike.refuted


def test_the_longest_log_string_absorbs_a_siblings_shorter_one_inside_it() -> None:
    proxy = runbook(
        "proxy.md",
        "Proxy",
        error(
            "UpstreamUnavailable",
            "- Proxy returns 503 to clients.",
            [
                ("Upstream Down", "The upstream refuses connections: `connect() failed (111: Connection refused)`."),
                ("Wrong Port", "The upstream listens elsewhere: `Connection refused`."),
            ],
        ),
    )
    engine = SuggestionEngine([proxy])

    ranked = engine.rank(["upstream says: connect() failed (111: Connection refused) while connecting"], top=2)

    assert ranked[0].cause.name == "Upstream Down"
    assert not any('Connection refused" (log string)' in line for line in ranked[0].evidence if "Wrong" in line)
    wrong = next(s for s in ranked if s.cause.name == "Wrong Port")
    assert wrong.cause_evidence == 0


RUNBOOK_WITH_WORDINGS = """# Runbook: Logs
## Error: DiskFull
### Symptoms
- `No space left on device`; disk usage at 100%
- Said as: "disk is full", "out of disk"
### Root Causes
1. Runaway Logs: log files grow without bound because rotation is misconfigured.
   - Said as: "rotate job isn't installed", "nothing rotates the logs"
2. Data Growth: the database's data files grow with the business.
3. Deleted Files Held Open: a process holds deleted files; the space is not freed.
"""


def test_said_as_wordings_are_read_per_root_cause_and_per_error() -> None:
    parsed = parse_runbook(RUNBOOK_WITH_WORDINGS, "logs.md")

    assert parsed.runbook is not None
    disk = parsed.runbook.errors[0]
    assert disk.wordings == ("disk is full", "out of disk")
    assert disk.root_causes[0].wordings == ("rotate job isn't installed", "nothing rotates the logs")
    assert disk.root_causes[1].wordings == ()


def test_a_wording_said_in_chat_points_to_its_root_cause() -> None:
    parsed = parse_runbook(RUNBOOK_WITH_WORDINGS, "logs.md")
    assert parsed.runbook is not None
    engine = SuggestionEngine([parsed.runbook])

    ranked = engine.rank(["No space left on device on web-3", "turns out the rotate job isn't installed there"])

    assert ranked[0].cause.name == "Runaway Logs"
    assert any("rotate job isn't installed" in line for line in ranked[0].evidence)


def test_lint_reports_wordings_that_cannot_work(tmp_path: Path) -> None:
    (tmp_path / "logs.md").write_text(
        RUNBOOK_WITH_WORDINGS
        + "4. Other: x\n   - Said as: nothing quoted here\n"
        + '5. Again: y\n   - Said as: "nothing rotates the logs", "big"\n',
        encoding="utf-8",
    )

    messages = [f"{p.line}: {p.severity}: {p.message}" for p in lint(tmp_path)]

    assert any(m.startswith("12: error: a `Said as:` line lists no wording") for m in messages)
    assert any(m.startswith('13: warning: wording "nothing rotates the logs" is given for `Again`') for m in messages)
    assert any(m.startswith('14: warning: wording "big" is a single word') for m in messages)


@pytest.mark.parametrize(
    ("a", "b"),
    [("exhausted", "exhaustion"), ("rotated", "rotation"), ("misconfigured", "misconfiguration"), ("spikes", "spike")],
)
def test_inflections_share_a_snowball_stem(a: str, b: str) -> None:
    assert stem(a) == stem(b)
    assert canonical(a) == canonical(b)


def test_learning_from_earlier_decisions_shifts_a_cause_and_says_so() -> None:
    engine = SuggestionEngine([DATABASE])
    session = engine.session()
    session.extend([POOL, "traffic a bit up, a few sessions idle in transaction"])
    plain = session.rank(top=3)
    learned_key = ("Database Connection Issues", "ConnectionPoolTimeoutError", plain[1].cause.name)

    learned = session.rank(top=3, learned={learned_key: (3, 0)})
    dismissed = session.rank(top=3, learned={learned_key: (0, 3)})

    shifted = next(s for s in learned if s.cause.name == learned_key[2])
    assert shifted.cause_evidence > plain[1].cause_evidence
    assert any(line.startswith("learned in this workspace: accepted 3 times") for line in shifted.evidence)
    lowered = next(s for s in dismissed if s.cause.name == learned_key[2])
    assert lowered.cause_evidence < plain[1].cause_evidence
    assert session.rank(top=3, learned={learned_key: (3, 0)}) == learned  # deterministic


def test_errors_are_ranked_by_evidence_when_their_confidences_saturate(engine: SuggestionEngine) -> None:
    ranked = engine.rank(
        [POOL, POOL, "sudden traffic spike, request rate well above normal", "also OOMKilled, Exit Code: 137 once"],
        top=10,
    )

    database = [s for s in ranked if s.error.name == "ConnectionPoolTimeoutError"]
    memory = [s for s in ranked if s.error.name == "OOMKilled"]
    assert database
    assert memory
    assert ranked.index(database[0]) < ranked.index(memory[0])
    assert database[0].error_evidence > memory[0].error_evidence


@pytest.mark.parametrize("text", ["it is n't the db", "n't", "(n't)", "pool isn't, n't", "’s", "'", "0 of 0", "1/0"])
def test_odd_fragments_of_chat_are_analysed_without_failing(engine: SuggestionEngine, text: str) -> None:
    session = engine.session()

    session.extend([POOL, text])

    assert session.rank(top=3)[0].error.name == "ConnectionPoolTimeoutError"


def test_lint_refuses_a_said_as_written_as_a_root_cause_and_warns_where_it_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zap.md").write_text(
        "# Runbook: Zap\n"
        '- Said as: "zap is dead"\n'
        "## Error: ZapError\n"
        '- Said as: "zap went sideways"\n'
        "### Symptoms\n"
        "- `zap failed`\n"
        "### Root Causes\n"
        "1. Cable Cut: the cable is cut.\n"
        '2. Said as: "zap is dead", "zap went sideways"\n',
        encoding="utf-8",
    )

    messages = [f"{p.line}: {p.severity}: {p.message}" for p in lint(tmp_path)]
    parsed = parse_runbook((tmp_path / "zap.md").read_text(encoding="utf-8"), "zap.md")

    assert parsed.runbook is not None
    assert [c.name for c in parsed.runbook.errors[0].root_causes] == ["Cable Cut"]
    assert any(m.startswith("9: error: `Said as:` is listed as a root cause of its own") for m in messages)
    assert any(m.startswith("2: warning: `Said as:` in the runbook's intro is not read") for m in messages)
    assert any(m.startswith("4: warning: `Said as:` in error `ZapError` before its first section") for m in messages)


def test_a_ranking_can_leave_all_but_the_best_unexplained_and_ranks_the_same(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.extend([POOL, "traffic a bit up, a few sessions idle in transaction"])

    full = session.rank(top=3)
    lean = session.rank(top=3, explain=1)

    assert [(s.cause.name, s.score, s.cause_evidence) for s in lean] == [
        (s.cause.name, s.score, s.cause_evidence) for s in full
    ]
    assert lean[0] == full[0]
    assert full[1].evidence
    assert lean[1].evidence == ()
    assert lean[1].alternatives == ()
