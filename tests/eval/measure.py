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

from bot.suggestions.decision import key, replay
from bot.suggestions.engine import SuggestionEngine
from bot.suggestions.parser import load_runbooks

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class Case:
    id: str
    title: str | None
    messages: list[str]
    expect: Triple | None
    hard: bool


@dataclass
class Outcome:
    case: Case
    top: list[Triple]  # what `suggest --json --top 3` answers: nothing, or the standing one and the next best
    standing: Triple | None  # what stands in the channel after the last message
    steps: list[tuple[int, str, Triple]] = field(default_factory=list)  # live: (after message N, action, what)

    @property
    def posts(self) -> list[Triple]:
        """What was claimed in the channel, in order: every post and update."""
        return [what for _, action, what in self.steps if action != "retract"]


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
                title=str(item["title"]) if item.get("title") else None,
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
        return sum(bool(o.posts) and o.posts[0] == o.case.expect for o in self.positives), len(self.positives)

    def live_ever_right(self) -> tuple[int, int]:
        return sum(o.case.expect in o.posts for o in self.positives), len(self.positives)

    def live_wrong_standing(self) -> tuple[int, int]:
        """True incidents with a wrong root cause standing in the channel at the end."""
        return sum(o.standing is not None and o.standing != o.case.expect for o in self.positives), len(self.positives)

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
        replayed = replay(engine, case.messages, title=case.title)
        steps = [
            (n, step.action, key(step.suggestion) if step.suggestion is not None else step.previous)
            for n, step in replayed.timeline
        ]
        standing = key(replayed.standing) if replayed.standing is not None else None
        top = [key(s) for s in replayed.suggestions(3)]
        outcomes.append(Outcome(case, top, standing, [(n, a, t) for n, a, t in steps if t is not None]))
    return Figures(outcomes, engine.threshold)
