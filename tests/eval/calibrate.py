"""Fit the decision to post (`WEIGHTS` in bot/suggestions/decision.py) on the development sets only.

    python -m tests.eval.calibrate            # prints the weights, and the live figures for a few POST_AT / KEEP_AT

Every transcript of every development set is replayed message by message; after each message the top suggestion's
features (`decision.features`) are one sample, labelled by whether it names the transcript's root cause (an
unrelated incident's are all wrong). A logistic regression (L2, standardised features, plain gradient descent:
deterministic) gives the probability that a top suggestion is right. Test sets are never read here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from bot.suggestions import decision
from bot.suggestions.engine import SuggestionEngine
from bot.suggestions.parser import load_runbooks

from .measure import load_cases, measure

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
# (runbooks, transcripts) of every development set
DEVELOPMENT = [
    (ROOT / "runbooks", HERE / "transcripts.yaml"),
    *((p / "runbooks", p / "transcripts.yaml") for p in sorted((HERE / "dev_sets").glob("*")) if p.is_dir()),
]
L2 = 0.05
STEPS = 4000
RATE = 0.3


def samples() -> tuple[list[tuple[float, ...]], list[int], list[float]]:
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    weights: list[float] = []
    for runbooks, transcripts in DEVELOPMENT:
        engine = SuggestionEngine(load_runbooks(runbooks)[0])
        for case in load_cases(transcripts):
            session = engine.session()
            if case.title:
                session.put("title", case.title, at=0.0, hypothesis=True)
            rows: list[tuple[tuple[float, ...], int]] = []
            for message in case.messages:
                session.add(message)
                ranked = session.rank(top=10)
                if ranked:
                    rows.append((decision.features(ranked[0]), int(decision.key(ranked[0]) == case.expect)))
            for x, y in rows:  # each transcript weighs the same, however long
                xs.append(x)
                ys.append(y)
                weights.append(1.0 / len(rows))
    return xs, ys, weights


def fit(xs: list[tuple[float, ...]], ys: list[int], ws: list[float]) -> tuple[float, ...]:
    k = len(xs[0])
    total = sum(ws)
    mean = [sum(w * x[i] for x, w in zip(xs, ws, strict=True)) / total for i in range(k)]
    std = [
        math.sqrt(sum(w * (x[i] - mean[i]) ** 2 for x, w in zip(xs, ws, strict=True)) / total) or 1.0 for i in range(k)
    ]
    zs = [[(x[i] - mean[i]) / std[i] for i in range(k)] for x in xs]
    b = [0.0] * (k + 1)
    for _ in range(STEPS):
        grad = [0.0] * (k + 1)
        for z, y, w in zip(zs, ys, ws, strict=True):
            t = b[0] + sum(bi * zi for bi, zi in zip(b[1:], z, strict=True))
            p = 1.0 / (1.0 + math.exp(-t)) if t > -50 else 0.0
            e = (p - y) * w
            grad[0] += e
            for i in range(k):
                grad[i + 1] += e * z[i]
        for i in range(k + 1):
            reg = L2 * b[i] if i else 0.0
            b[i] -= RATE * (grad[i] / total + reg)
    # back to raw features
    raw = [b[i + 1] / std[i] for i in range(k)]
    intercept = b[0] - sum(raw[i] * mean[i] for i in range(k))
    return (intercept, *raw)


def main() -> int:
    xs, ys, ws = samples()
    weights = fit(xs, ys, ws)
    print(f"{len(xs)} samples, {sum(ys)} right")
    print("WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")
    for name, w in zip(("intercept", *decision.FEATURES), weights, strict=True):
        print(f"  {w:+.3f}  {name}")
    decision.WEIGHTS = tuple(round(w, 3) for w in weights)
    for post_at, keep_at in [(0.6, 0.4), (0.7, 0.4), (0.7, 0.5), (0.8, 0.5), (0.85, 0.5), (0.9, 0.5), (0.9, 0.6)]:
        decision.POST_AT, decision.KEEP_AT = post_at, keep_at
        print(f"POST_AT {post_at}, KEEP_AT {keep_at}")
        for runbooks, transcripts in DEVELOPMENT:
            print(measure(runbooks, transcripts).report(f"  {transcripts.parent.name}/{transcripts.name}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
