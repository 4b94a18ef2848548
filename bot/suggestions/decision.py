"""What the bot has standing in an incident channel, and when that changes: one rule, used by the Slack path
(bot/services/suggestions.py), by `incident-bot suggest --replay` and by the evaluation's replay of transcripts
(tests/eval/), so that what is measured is what the bot does.

    step = decide(session.rank(top=10), engine.threshold, standing=None, dismissed=set())
    # None (nothing to do), or Step("post" | "update" | "retract", suggestion, previous, why)

A channel has at most one suggestion standing: posted when the top suggestion is likely enough to be right
(`likelihood` >= POST_AT), updated in place when another root cause takes the lead that clearly (saying why),
withdrawn when what stands no longer leads or falls below KEEP_AT (saying why). A root cause people dismissed is
never suggested again in that incident.

`likelihood` is a logistic model over `features`, which describe the shape of the evidence and never a team's
words (so that it holds on other teams' runbooks); its WEIGHTS are fitted on the development sets only
(`python -m tests.eval.calibrate`), and POST_AT / KEEP_AT were chosen there, trading a first post that is right
against unrelated incidents that get a post.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .engine import Suggestion, SuggestionEngine

Triple = tuple[str, str, str]  # (runbook title, error name, root cause name)


def key(suggestion: Suggestion) -> Triple:
    """What a suggestion is known by: (runbook, error, root cause)."""
    return (suggestion.runbook.title, suggestion.error.name, suggestion.cause.name)


@dataclass(frozen=True, slots=True)
class Step:
    """A change to what stands in the channel."""

    action: str  # post | update | retract
    suggestion: Suggestion | None  # what stands after it (None after a retract)
    previous: Triple | None  # what stood before it (None for a post)
    why: str  # for an update or a retract: what changed, in a sentence

    def to_json(self, message: int) -> dict[str, object]:
        """The `--replay` timeline entry: after message N (1-based, after the title line)."""
        shown = self.suggestion
        triple = key(shown) if shown is not None else self.previous
        assert triple is not None
        return {
            "message": message,
            "action": self.action,
            "runbook": triple[0],
            "error": triple[1],
            "root_cause": triple[2],
            "score": round(shown.score, 4) if shown is not None else None,
            "why": self.why,
        }


def features(s: Suggestion) -> tuple[float, ...]:
    """What the decision to post looks at, for the top suggestion: features that do not depend on one team's
    runbooks or words (see FEATURES)."""
    return (
        math.log1p(max(s.error_evidence, 0.0)),
        min(max(s.cause_evidence, 0.0), 6.0),
        min(max(s.sibling_gap, -3.0), 5.0),
        min(max(s.rival_gap, -3.0), 8.0),
        float(min(s.cause_messages, 3)),
        float(min(s.error_messages, 5)),
        1.0 if s.anchored else 0.0,
        1.0 if s.refuted else 0.0,
        float(min(s.not_a_fault, 3)),
        s.support_share,
    )


FEATURES = (
    "log(1 + error evidence)",
    "root-cause evidence (at most 6)",
    "lead over the best sibling root cause",
    "lead over the next best error",
    "messages that observed the root cause (at most 3)",
    "messages that observed the error (at most 5)",
    "a log string or error name observed whole",
    "ruled out",
    "messages saying it is not a fault: planned, a drill, a false alarm... (at most 3)",
    "share of the observations that point to the error",
)
# Logistic weights over FEATURES (intercept first), fitted on the development sets only by
# `python -m tests.eval.calibrate`: the probability that the top suggestion names the right root cause.
WEIGHTS: tuple[float, ...] = (-3.412, 0.106, 0.256, 0.354, 0.073, 0.113, 0.021, 0.372, -0.409, -1.065, 1.794)
POST_AT = 0.7  # a suggestion is posted when it is at least this likely to be right ...
KEEP_AT = 0.4  # ... and one that stands is kept (while it leads) until it falls below this


def likelihood(s: Suggestion) -> float:
    """The calibrated probability that this (top) suggestion names the right root cause."""
    z = WEIGHTS[0] + sum(w * f for w, f in zip(WEIGHTS[1:], features(s), strict=True))
    return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0


def decide(
    ranked: Sequence[Suggestion],
    threshold: float,
    standing: Triple | None,
    dismissed: Collection[Triple] = (),
) -> Step | None:
    """What to do now, given the ranking (best first, whatever the scores), what stands in the channel and what
    people dismissed in this incident."""
    candidates = [s for s in ranked if key(s) not in dismissed]
    leader = candidates[0] if candidates else None
    best = leader if leader is not None and likelihood(leader) >= POST_AT else None
    if standing is None:
        return Step("post", best, None, "") if best is not None else None
    if best is not None:
        if key(best) == standing:
            return None
        return Step("update", best, standing, f"now {best.cause.name}: {_why_not(standing, candidates, best)}")
    mine = next((s for s in candidates if key(s) == standing), None)
    if mine is not None and leader is mine and likelihood(mine) >= KEEP_AT:
        return None  # still the best, if less clearly for now (a ruling-out already weighs in its likelihood)
    return Step("retract", None, standing, _why_not(standing, candidates, leader))


def _why_not(standing: Triple, ranked: Sequence[Suggestion], instead: Suggestion | None) -> str:
    """Why what stands no longer does, in words, from what was said ("now X: " is added for an update)."""
    cause = standing[2]
    mine = next((s for s in ranked if key(s) == standing), None)
    if mine is not None and mine.refuted:
        return f"{cause} was ruled out by “{mine.refuted[0]}”"
    if mine is None:
        return f"{cause} is no longer supported by what is said here"
    if instead is not None and key(instead) != standing:
        ahead, behind = likelihood(instead), likelihood(mine)
        odds = f" ({ahead:.0%} against {behind:.0%} likely)" if ahead >= behind else ""
        return f"{instead.cause.name} now ranks above {cause} on the evidence{odds}"
    return f"the evidence for {cause} is no longer clear ({likelihood(mine):.0%} likely)"


@dataclass(frozen=True, slots=True)
class Replayed:
    """A conversation fed message by message through `decide`: what happened after which message, and what
    stands at the end."""

    timeline: tuple[tuple[int, Step], ...]  # (after message N, 1-based, not counting the title; the step)
    standing: Suggestion | None  # what stands after the last message
    ranked: tuple[Suggestion, ...]  # the ranking after the last message, best first

    def suggestions(self, top: int) -> list[Suggestion]:
        """What `incident-bot suggest` answers: nothing when nothing would stand in the channel, else the ranking
        (the standing suggestion first, then the next best, siblings included)."""
        if self.standing is None or top <= 0:
            return []
        rest = [s for s in self.ranked if key(s) != key(self.standing)]
        return [self.standing, *rest][:top]


def replay(engine: SuggestionEngine, messages: Sequence[str], *, title: str | None = None, top: int = 10) -> Replayed:
    """Feed the messages one at a time (the title first, as a hypothesis) through the Slack path's decision,
    ignoring the minimum interval between posts."""
    session = engine.session()
    if title is not None and title.strip():
        session.put("title", title, at=0.0, hypothesis=True)
    standing: Suggestion | None = None
    timeline: list[tuple[int, Step]] = []
    ranked: list[Suggestion] = []
    for n, message in enumerate(messages, start=1):
        session.add(message)
        # only the leader can be posted: the others' evidence is not written out until the end
        ranked = session.rank(top=max(top, 10), explain=1)
        step = decide(ranked, engine.threshold, key(standing) if standing is not None else None)
        if step is not None:
            timeline.append((n, step))
            standing = step.suggestion
    if messages:
        ranked = session.rank(top=max(top, 10))
        if standing is not None:  # its figures and evidence as of the last message
            standing = next((s for s in ranked if key(s) == key(standing)), standing)
    return Replayed(tuple(timeline), standing, tuple(ranked))
