"""The live decision (bot/suggestions/decision.py): what stands in an incident channel after each message, the same
rule for Slack, `incident-bot suggest --replay` and the evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.suggestions import decision
from bot.suggestions.decision import Step, decide, key, likelihood, replay
from bot.suggestions.engine import SuggestionEngine
from bot.suggestions.parser import load_runbooks

ROOT = Path(__file__).resolve().parents[2]
TITLE = "API 500s on login"
POOL = "ConnectionPoolTimeoutError: Timeout waiting for connection from pool in user-service"
SPIKE = "request rate is 3x normal since the marketing campaign launched, autoscaling events too"
REFUTED = "wait, the campaign traffic is 0, the email went out to nobody. request rate is flat, traffic is normal"
ZOMBIES = "pg_stat_activity shows 80 sessions idle in transaction, connections never returned to the pool"
DATABASE = "Database Connection Issues"
ERROR = "ConnectionPoolTimeoutError"


@pytest.fixture(scope="module")
def engine() -> SuggestionEngine:
    return SuggestionEngine(load_runbooks(ROOT / "runbooks")[0])


def actions(timeline: tuple[tuple[int, Step], ...]) -> list[tuple[int, str, str]]:
    return [
        (n, step.action, (key(step.suggestion) if step.suggestion else step.previous or ("", "", ""))[2])
        for n, step in timeline
    ]


def test_clear_evidence_is_posted_after_the_message_that_makes_it_clear(engine: SuggestionEngine) -> None:
    replayed = replay(engine, [POOL, SPIKE], title=TITLE)

    assert actions(replayed.timeline) == [(2, "post", "Traffic Spike")]
    assert replayed.standing is not None
    assert likelihood(replayed.standing) >= decision.POST_AT


def test_a_hypothesis_alone_is_never_posted(engine: SuggestionEngine) -> None:
    replayed = replay(engine, ["maybe a traffic spike again? like in march"], title="Traffic spike?")

    assert replayed.timeline == ()
    assert replayed.suggestions(3) == []


def test_a_refuted_suggestion_is_updated_in_place_and_says_why(engine: SuggestionEngine) -> None:
    replayed = replay(engine, [POOL, SPIKE, ZOMBIES, REFUTED], title=TITLE)

    steps = actions(replayed.timeline)
    assert steps[0] == (2, "post", "Traffic Spike")
    assert steps[-1] == (4, "update", "Zombie Connections")
    why = replayed.timeline[-1][1].why
    assert why.startswith("now Zombie Connections: Traffic Spike was ruled out by")


def test_a_refuted_suggestion_with_nothing_better_is_withdrawn(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.extend([POOL, SPIKE])
    standing = key(session.rank(top=10)[0])
    session.add("campaign traffic is 0, request rate is flat, no autoscaling events at all")

    step = decide(session.rank(top=10), engine.threshold, standing)

    assert step is not None
    assert step.action in ("retract", "update")
    assert step.previous == standing
    assert "Traffic Spike" in step.why


def test_a_dismissed_root_cause_is_never_suggested_again(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.extend([POOL, SPIKE, SPIKE, "pool saturates within minutes of the surge"])
    ranked = session.rank(top=10)
    dismissed = {key(ranked[0])}
    undismissed = decide(ranked, engine.threshold, None)

    step = decide(ranked, engine.threshold, None, dismissed)

    assert undismissed is not None
    assert undismissed.suggestion is not None
    assert key(undismissed.suggestion) in dismissed
    assert step is None or (step.suggestion is not None and key(step.suggestion) not in dismissed)


def test_what_stands_is_kept_while_it_leads_even_when_the_evidence_wavers(engine: SuggestionEngine) -> None:
    session = engine.session()
    session.extend([POOL, SPIKE])
    standing = key(session.rank(top=10)[0])
    session.extend(["who's on comms?", "i can take comms", "status page updated"])

    assert decide(session.rank(top=10), engine.threshold, standing) is None


def test_the_replay_timeline_entry_has_the_documented_shape(engine: SuggestionEngine) -> None:
    replayed = replay(engine, [POOL, SPIKE, ZOMBIES, REFUTED], title=TITLE)

    entries = [step.to_json(n) for n, step in replayed.timeline]

    assert entries[0] == {
        "message": 2,
        "action": "post",
        "runbook": DATABASE,
        "error": ERROR,
        "root_cause": "Traffic Spike",
        "score": entries[0]["score"],
        "why": "",
    }
    assert isinstance(entries[0]["score"], float)
    assert {e["action"] for e in entries} <= {"post", "update", "retract"}


def test_suggest_answers_nothing_when_nothing_would_stand_and_the_standing_one_first_otherwise(
    engine: SuggestionEngine,
) -> None:
    quiet = replay(engine, ["who is IC?", "me"], title="weekly handover")
    clear = replay(engine, [POOL, SPIKE], title=TITLE)

    assert quiet.suggestions(3) == []
    ranked = clear.suggestions(3)
    assert ranked[0] == clear.standing
    assert len(ranked) == 3
    assert len({key(s) for s in ranked}) == 3
