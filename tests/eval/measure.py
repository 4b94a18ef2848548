"""Measuring the root-cause engine on an evaluation set: after the last message (as `incident-bot suggest` answers),
and live (the transcript replayed message by message through the Slack path's decision to post,
`bot/suggestions/decision.py`, ignoring the minimum interval between posts).

A set is a folder of runbooks and a `transcripts.yaml`: a list of `{id, title, messages, expect, tags, note}` where
`expect` is `{runbook, error, root_cause}` or null (an unrelated incident), and `tags` may say `hard`.

    figures = measure(runbooks_folder, transcripts_file)
    print(figures.report("test set A"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.suggestions.decision import key, worth_posting
from bot.suggestions.engine import SuggestionEngine
from bot.suggestions.parser import load_runbooks

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class Case:
    id: str
    messages: list[str]
    expect: Triple | None
    hard: bool


@dataclass
class Outcome:
    case: Case
    top: list[Triple]  # ranked after the last message, best first (top 3), whatever the threshold
    standing: Triple | None  # what `suggest` would answer: the top suggestion above the threshold, if any
    posts: list[tuple[int, Triple]] = field(default_factory=list)  # live: (after message N, 1-based, what)


def load_cases(transcripts: Path) -> list[Case]:
    raw: Any = yaml.safe_load(transcripts.read_text(encoding="utf-8"))
    cases = []
    for item in raw:
        expect = item.get("expect")
        tags = item.get("tags") or []
        note = str(item.get("note") or "")
        cases.append(
            Case(
                id=str(item["id"]),
                messages=[str(m) for m in item["messages"]],
                expect=(expect["runbook"], expect["error"], expect["root_cause"]) if expect else None,
                hard="hard" in tags or "[hard]" in note,
            )
        )
    return cases


@dataclass
class Figures:
    outcomes: list[Outcome]
    threshold: float

    @property
    def positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect is not None]

    @property
    def negatives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect is None]

    def top1(self, hard_only: bool = False) -> tuple[int, int]:
        cases = [o for o in self.positives if o.case.hard or not hard_only]
        return sum(o.standing == o.case.expect for o in cases), len(cases)

    def top3(self) -> tuple[int, int]:
        return sum(o.case.expect in o.top for o in self.positives), len(self.positives)

    def unrelated_standing(self) -> tuple[int, int]:
        return sum(o.standing is not None for o in self.negatives), len(self.negatives)

    def live_first_right(self) -> tuple[int, int]:
        return sum(bool(o.posts) and o.posts[0][1] == o.case.expect for o in self.positives), len(self.positives)

    def live_ever_right(self) -> tuple[int, int]:
        return sum(any(what == o.case.expect for _, what in o.posts) for o in self.positives), len(self.positives)

    def live_wrong_standing(self) -> tuple[int, int]:
        """True incidents whose last post (what is standing in the channel) is not the right root cause."""
        return sum(bool(o.posts) and o.posts[-1][1] != o.case.expect for o in self.positives), len(self.positives)

    def live_unrelated_posted(self) -> tuple[int, int]:
        return sum(bool(o.posts) for o in self.negatives), len(self.negatives)

    def report(self, name: str) -> str:
        def share(pair: tuple[int, int]) -> str:
            hits, total = pair
            return f"{hits}/{total} ({hits / total:.0%})" if total else "0/0"

        lines = [
            f"{name}: {len(self.outcomes)} transcripts, {len(self.positives)} true incidents "
            f"({self.top1(hard_only=True)[1]} hard), {len(self.negatives)} unrelated",
            f"  after the last message: root cause top-1 {share(self.top1())}, hard {share(self.top1(True))}, "
            f"top-3 {share(self.top3())}; unrelated with a suggestion standing {share(self.unrelated_standing())}",
            f"  live: first post right {share(self.live_first_right())}, right one ever posted "
            f"{share(self.live_ever_right())}, a wrong one standing at the end {share(self.live_wrong_standing())}; "
            f"unrelated that got a post {share(self.live_unrelated_posted())}",
        ]
        return "\n".join(lines)


def measure(runbooks: Path, transcripts: Path) -> Figures:
    loaded, _ = load_runbooks(runbooks)
    engine = SuggestionEngine(loaded)
    outcomes = []
    for case in load_cases(transcripts):
        session = engine.session()
        posted: set[Triple] = set()
        posts: list[tuple[int, Triple]] = []
        for n, message in enumerate(case.messages, start=1):
            session.add(message)
            best = worth_posting(session.rank(top=10), engine.threshold)
            if best is not None and key(best) not in posted:  # one post per root cause and incident
                posted.add(key(best))
                posts.append((n, key(best)))
        ranked = session.rank(top=3)
        standing = session.suggest(top=1)
        outcomes.append(Outcome(case, [key(s) for s in ranked], key(standing[0]) if standing else None, posts))
    return Figures(outcomes, engine.threshold)
