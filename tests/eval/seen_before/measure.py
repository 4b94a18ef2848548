"""Measuring "Seen before" by resemblance of evidence (`bot/suggestions/resemblance.py`) on a set written blind.

A set is one team's history and new incidents (`{context, past, cases}`): each past incident has an id, a title,
its messages, its cause and fix (for the reader); each case has an id, a title, its messages, `expect` (the past
incident that is the same problem recurring, or null) and a note starting with a tag such as `[recurrence]`,
`[same-service]`, `[wrong-first]`. The past incidents are fingerprinted as the bot does at resolution (title and
messages); each case is replayed message by message, its title first, as the bot checks after each burst, and the
first past incident named is what the channel would be told (it is told once).

    figures = measure(Path("tests/eval/seen_before/dev.yaml"))
    print(figures.report("development"))

Run `python -m tests.eval.seen_before.measure FILE [-v]` to see each case (with -v, what was shared).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.suggestions.resemblance import Bag, Resemblance, Resemblances, bag_of, fingerprint

TAG = re.compile(r"\[([a-z-]+)\]")


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    messages: list[str]
    expect: str | None
    tag: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    told: str | None  # the past incident named first, or None
    after: int  # after how many messages (title = 0), -1 when nothing was named
    match: Resemblance | None


@dataclass
class Figures:
    outcomes: list[Outcome]

    @property
    def recurrences(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect is not None]

    @property
    def others(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect is None]

    @property
    def right(self) -> int:
        return sum(o.told == o.case.expect for o in self.recurrences)

    @property
    def wrong_posts(self) -> int:
        """Posts naming an incident that is not the same problem: on a recurrence, another one; or any post on an
        incident that recurs nothing."""
        return sum(o.told is not None and o.told != o.case.expect for o in self.outcomes)

    def report(self, name: str) -> str:
        by_tag: Counter[str] = Counter()
        posted: Counter[str] = Counter()
        for o in self.outcomes:
            by_tag[o.case.tag] += 1
            ok = o.told == o.case.expect
            posted[o.case.tag] += ok
        tags = ", ".join(f"{tag} {posted[tag]}/{n}" for tag, n in sorted(by_tag.items()))
        return (
            f"{name}: recurrences told right {self.right}/{len(self.recurrences)}; "
            f"wrong posts {self.wrong_posts} (on {len(self.others)} incidents that recur nothing: "
            f"{sum(o.told is not None for o in self.others)}); as expected by kind: {tags}"
        )


def load(path: Path) -> tuple[dict[str, tuple[str, list[str]]], list[Case]]:
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    past = {str(p["id"]): (str(p["title"]), [str(m) for m in p["messages"]]) for p in raw["past"]}
    cases = []
    for c in raw["cases"]:
        found = TAG.search(str(c.get("note") or ""))
        expect = str(c["expect"]) if c.get("expect") else None
        if expect is not None and expect not in past:
            raise ValueError(f"{path}: case {c['id']} expects {expect}, which is not a past incident")
        cases.append(
            Case(str(c["id"]), str(c["title"]), [str(m) for m in c["messages"]], expect, found[1] if found else "?")
        )
    return past, cases


def measure(path: Path) -> Figures:
    past, cases = load(path)
    ids = dict(enumerate(past))
    index = Resemblances({i: fingerprint(bag_of([past[name][0], *past[name][1]])) for i, name in ids.items()})
    outcomes = []
    for case in cases:
        bag = Bag()
        told: Outcome | None = None
        for n, text in enumerate([case.title, *case.messages]):
            bag.put(f"m{n}", text)
            match = index.best(bag.counts, n)
            if match is not None:
                told = Outcome(case, ids[match.incident_id], n, match)
                break
        outcomes.append(told or Outcome(case, None, -1, None))
    return Figures(outcomes)


def main(argv: list[str]) -> None:
    verbose = "-v" in argv
    for arg in (a for a in argv if a != "-v"):
        figures = measure(Path(arg))
        for o in figures.outcomes:
            mark = "ok " if o.told == o.case.expect else "BAD"
            detail = ""
            if o.match is not None:
                detail = f" score {o.match.score:.2f} margin {o.match.margin:.2f}"
                if verbose:
                    detail += f" shared {', '.join(o.match.shared[:8])}"
            print(f"{mark} {o.case.id} [{o.case.tag}] expect {o.case.expect} told {o.told} after {o.after}{detail}")
        print(figures.report(Path(arg).stem))


if __name__ == "__main__":
    main(sys.argv[1:])
