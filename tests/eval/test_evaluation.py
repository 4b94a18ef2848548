"""Evaluation of the root-cause engine on the shipped runbooks and the transcripts in tests/eval/transcripts.yaml.

Root-cause top-1 accuracy over the cases that expect a root cause (the first suggestion above the threshold must
be the expected runbook, error and root cause), and false positives over the cases that expect none (any
suggestion above the threshold is one). Run with `-s` to see the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.suggestions.engine import SuggestionEngine

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
TRANSCRIPTS = Path(__file__).with_name("transcripts.yaml")

MIN_CASES = 40
MIN_TOP1 = 0.90
MAX_FALSE_POSITIVES = 0


@dataclass(frozen=True)
class Case:
    id: str
    messages: list[str]
    expect: tuple[str, str, str] | None
    note: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: tuple[str, str, str] | None
    score: float
    ranked: list[tuple[str, str, float]]  # (error, root cause, score), best first, whatever the threshold

    @property
    def correct(self) -> bool:
        return self.got == self.case.expect


def load_cases() -> list[Case]:
    raw: Any = yaml.safe_load(TRANSCRIPTS.read_text(encoding="utf-8"))
    cases: list[Case] = []
    for item in raw:
        expect = item.get("expect")
        triple = (expect["runbook"], expect["error"], expect["root_cause"]) if expect else None
        cases.append(Case(str(item["id"]), [str(m) for m in item["messages"]], triple, str(item.get("note", ""))))
    return cases


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    if not RUNBOOKS.is_dir() or not any(RUNBOOKS.glob("*.md")):
        pytest.skip(f"no runbooks in {RUNBOOKS}")
    if not TRANSCRIPTS.is_file():
        pytest.skip(f"no evaluation set at {TRANSCRIPTS}")
    from bot.suggestions.parser import load_runbooks

    runbooks, _ = load_runbooks(RUNBOOKS)
    engine = SuggestionEngine(runbooks)
    results: list[Outcome] = []
    for case in load_cases():
        suggestions = engine.suggest(case.messages, top=1)
        ranked = engine.rank(case.messages, top=3)
        best = suggestions[0] if suggestions else None
        results.append(
            Outcome(
                case,
                (best.runbook_title, best.error_name, best.root_cause_name) if best else None,
                best.score if best else 0.0,
                [(s.error_name, s.root_cause_name, s.score) for s in ranked],
            )
        )
    print_report(results, engine.threshold)
    return results


def print_report(results: list[Outcome], threshold: float) -> None:
    positives = [r for r in results if r.case.expect is not None]
    negatives = [r for r in results if r.case.expect is None]
    hits = sum(r.correct for r in positives)
    false_positives = [r for r in negatives if r.got is not None]
    print(f"\nroot-cause evaluation: {len(results)} cases, threshold {threshold:.2f}")
    print(f"  top-1 accuracy: {hits}/{len(positives)} = {hits / max(len(positives), 1):.1%}")
    print(f"  false positives: {len(false_positives)}/{len(negatives)}")
    for r in positives:
        if not r.correct:
            assert r.case.expect is not None
            print(f"  MISS {r.case.id}: expected {r.case.expect[1]} / {r.case.expect[2]}, got {r.got}")
            for error, cause, score in r.ranked:
                print(f"       {score:.2f} {error} / {cause}")
    for r in false_positives:
        print(f"  FALSE POSITIVE {r.case.id}: {r.got} ({r.score:.2f})")
    lowest = sorted((r for r in positives if r.correct), key=lambda r: r.score)[:3]
    print("  weakest correct: " + ", ".join(f"{r.case.id} {r.score:.2f}" for r in lowest))
    strongest = sorted(negatives, key=lambda r: -(r.ranked[0][2] if r.ranked else 0.0))[:3]
    print(
        "  strongest negatives: " + ", ".join(f"{r.case.id} {r.ranked[0][2] if r.ranked else 0:.2f}" for r in strongest)
    )


def test_the_evaluation_set_is_big_enough_to_mean_something(outcomes: list[Outcome]) -> None:
    positives = [r for r in outcomes if r.case.expect is not None]
    negatives = [r for r in outcomes if r.case.expect is None]

    assert len(outcomes) >= MIN_CASES
    assert positives
    assert negatives


def test_the_top_suggestion_is_the_expected_root_cause_in_nine_cases_out_of_ten(outcomes: list[Outcome]) -> None:
    positives = [r for r in outcomes if r.case.expect is not None]

    accuracy = sum(r.correct for r in positives) / len(positives)

    assert accuracy >= MIN_TOP1, [r.case.id for r in positives if not r.correct]


def test_no_suggestion_is_made_when_no_runbook_applies(outcomes: list[Outcome]) -> None:
    false_positives = [r.case.id for r in outcomes if r.case.expect is None and r.got is not None]

    assert len(false_positives) <= MAX_FALSE_POSITIVES, false_positives
