"""The engine's evidence state: messages added, edited and deleted in any order rank exactly as the conversation
they leave behind, ranked from scratch."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.suggestions.engine import Suggestion, SuggestionEngine
from bot.suggestions.parser import load_runbooks

ROOT = Path(__file__).resolve().parents[2]


def _engine() -> SuggestionEngine:
    runbooks, problems = load_runbooks(ROOT / "runbooks")
    assert not problems
    return SuggestionEngine(runbooks)


ENGINE = _engine()
# What responders say: the evaluation transcripts (log strings, causes, ruled-out hypotheses, questions and "no"
# answers), and a few lines that retract or question what others said.
SAID = sorted(
    {m for case in yaml.safe_load((ROOT / "tests/eval/transcripts.yaml").read_text()) for m in case["messages"]}
)
# ... drawn as often as all of those: questions, "no" answers and ruled-out causes interact with their neighbours.
TURNS = [
    "memory leak?",
    "doesn't look like one",
    "nope",
    "no, traffic is flat",
    "no sign of a traffic spike",
    "traffic spike?",
    "ruled out the deploy",
    "Timeout waiting for connection from pool",
    "pods OOMKilled, exit code 137",
    "",
]


def summary(ranked: list[Suggestion]) -> list[tuple[str, str, str, float, tuple[str, ...], tuple[str, ...]]]:
    return [(s.runbook_title, s.error_name, s.root_cause_name, s.score, s.evidence, s.alternatives) for s in ranked]


# An operation: (kind, message number, text, time). Times collide on purpose: order then falls to the key.
operations = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "put", "edit", "delete"]),
        st.integers(min_value=0, max_value=11),
        st.one_of(st.sampled_from(TURNS), st.sampled_from(SAID)),
        st.integers(min_value=0, max_value=20),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_any_sequence_of_messages_edits_and_deletions_ranks_as_the_conversation_it_leaves_ranked_from_scratch(
    ops: list[tuple[str, int, str, int]],
) -> None:
    session = ENGINE.session()
    live: dict[str, tuple[float, str]] = {}  # key -> (time, text): what the conversation holds now
    deleted: set[str] = set()
    for version, (kind, number, text, at) in enumerate(ops, start=1):
        key = f"C1/{number:04d}"
        if kind == "delete":
            session.remove(key, version=version)
            live.pop(key, None)
            deleted.add(key)
        elif key not in deleted:
            when = live[key][0] if kind == "edit" and key in live else float(at)
            session.put(key, text, at=when, version=version)
            live[key] = (when, text)
        else:
            assert not session.put(key, text, at=float(at), version=version)  # a deleted message stays deleted

        ordered = [live[key][1] for _, key in sorted((when, key) for key, (when, _) in live.items())]
        conversation = [text for text in ordered if text.strip()]  # a message without words says nothing
        assert list(session.messages) == conversation
        assert summary(session.rank(top=10)) == summary(_fresh(conversation))


def _fresh(conversation: list[str]) -> list[Suggestion]:
    session = ENGINE.session()
    session.extend(conversation)
    return session.rank(top=10)


def test_an_older_version_of_a_message_never_replaces_a_newer_one() -> None:
    session = ENGINE.session()
    session.put("C1/1", "Timeout waiting for connection from pool", at=1.0, version=5)

    changed = session.put("C1/1", "all good here", at=1.0, version=4)

    assert not changed
    assert session.messages == ("Timeout waiting for connection from pool",)


def test_a_deletion_retracts_everything_the_message_contributed() -> None:
    session = ENGINE.session()
    session.put("C1/1", "checkout 500s", at=1.0)
    before = summary(session.rank(top=10))
    session.put("C1/2", "Timeout waiting for connection from pool, rps is 4x normal, traffic spike", at=2.0)
    assert summary(session.rank(top=10)) != before

    session.remove("C1/2", version=1)

    assert summary(session.rank(top=10)) == before


def test_an_edit_takes_back_the_old_words_and_counts_the_new_ones() -> None:
    session = ENGINE.session()
    session.put("C1/1", "Timeout waiting for connection from pool", at=1.0, version=1)
    session.put("C1/2", "rps is 4x normal, a traffic spike from the marketing email", at=2.0, version=1)
    spike = session.rank(top=1)[0].root_cause_name

    session.put(
        "C1/2", "someone started a VACUUM FULL, sessions waiting with wait_event_type = Lock", at=2.0, version=2
    )

    assert spike == "Traffic Spike"
    assert session.rank(top=1)[0].root_cause_name == "Database Maintenance"
    assert "traffic" not in " ".join(session.rank(top=1)[0].evidence).lower().split("against")[0]


def test_a_message_without_words_does_not_stand_between_a_question_and_its_answer() -> None:
    asked = ["Timeout waiting for connection from pool", "is this a traffic spike?"]
    session = ENGINE.session()
    for n, text in enumerate([*asked, "", "  ", "nope"]):  # two files shared without a comment
        session.put(f"C1/{n}", text, at=float(n))

    assert summary(session.rank(top=10)) == summary(_fresh([*asked, "nope"]))
    assert any("ruled out" in line for s in session.rank(top=10) for line in s.alternatives)


def test_a_message_whose_words_are_edited_away_and_back_counts_again() -> None:
    session = ENGINE.session()
    session.put("C1/1", "Timeout waiting for connection from pool", at=1.0, version=1)
    session.put("C1/1", "", at=1.0, version=2)
    assert len(session) == 0

    session.put("C1/1", "Timeout waiting for connection from pool", at=1.0, version=3)

    assert session.messages == ("Timeout waiting for connection from pool",)


def test_deleted_messages_still_count_towards_what_a_session_holds() -> None:
    session = ENGINE.session()
    for n in range(3):
        session.put(f"C1/{n}", f"pool timeouts {n}", at=float(n))

    session.remove("C1/0")
    session.remove("C1/1")

    assert (len(session), session.keys_held) == (1, 3)
