"""When a ranking deserves a post in the incident channel: one rule, used by the Slack path
(bot/services/suggestions.py) and by the evaluation's replay of transcripts (tests/eval/), so that what is measured
is what the bot does.

    best = worth_posting(session.rank(top=10), engine.threshold)   # a Suggestion, or None
"""

from __future__ import annotations

from collections.abc import Sequence

from .engine import Suggestion

# A suggestion is posted only when the evidence separates its root cause from the other root causes of the same
# error by this much confidence. Early in an incident the error is often clear (the log strings) while nothing
# yet tells its causes apart; posting then would name one of them at random. (On the development set, correct
# conversations separate by 0.33 or more; a conversation that has only the error's symptoms, by less than 0.2.)
SEPARATION = 0.25


def same_error(a: Suggestion, b: Suggestion) -> bool:
    return (a.runbook.path, a.error.heading, a.error.line) == (b.runbook.path, b.error.heading, b.error.line)


def worth_posting(ranked: Sequence[Suggestion], threshold: float) -> Suggestion | None:
    """The top suggestion if it reaches the threshold and stands clear of its error's other root causes."""
    if not ranked or ranked[0].score < threshold:
        return None
    best = ranked[0]
    sibling = next((s for s in ranked[1:] if same_error(s, best)), None)
    if sibling is not None and best.score - sibling.score < SEPARATION:
        return None  # the error is clear, but not yet which of its root causes
    return best


def key(suggestion: Suggestion) -> tuple[str, str, str]:
    """What a posted suggestion is known by: one post per (runbook, error, root cause) and incident."""
    return (suggestion.runbook.title, suggestion.error.name, suggestion.cause.name)
