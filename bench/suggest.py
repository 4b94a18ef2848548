"""Root-cause engine benchmark: index build time and re-rank time per message, for 100, 1,000 and 10,000 error
sections.

The corpora are synthetic and deterministic (a seeded generator over a fixed vocabulary): runbooks of four errors,
each error with symptoms (~60 words, three backticked log strings), three root causes (~35 words and a sub-bullet
of signs each), remediation with a code block (~80 words), verification and long-term fixes (~30 words each), the
size of the runbooks in runbooks/. Words are drawn Zipf-style from a vocabulary that grows with the corpus (as a
real one would), mixed with common incident words, so that some terms are in most sections and most are rare.

The conversation is 50 messages: chatter, symptoms and log lines of one target error, words of one of its root
causes, a ruled-out sibling, and noise. For each message the timer covers what the bot does when a message
arrives: `engine.suggest(conversation_so_far)` (the engine reuses the work done for the earlier messages), and
separately `session.add(message); session.suggest()` and a cold `suggest()` of the whole conversation (no reuse).

    python bench/suggest.py                  # 100, 1,000 and 10,000 error sections
    python bench/suggest.py --sizes 100 1000 --json
    python bench/suggest.py --sizes 1000 --incident 30000   # and an incident of 30,000 messages

Targets (issue): median re-rank per message <= 2 ms at 1,000 error sections; 100 -> 10,000 at most 3x.

Incident scale (`--incident N`, at 1,000 error sections, or the first size if 1,000 is not among them): the
conversation repeated, each message made unique, until the incident holds N messages, fed to one evidence state
as the bot does (`session.put`); it reports the median and p99 of one state update, and the ranking from the
state (`session.rank(top=10)`, as the bot ranks) at 1,000, 10,000 and N messages. Targets (issue 9): state
update <= 0.2 ms median; ranking from the state <= 2 ms at 1,000 error sections, independent of the incident's
length.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.suggestions.engine import SuggestionEngine  # noqa: E402
from bot.suggestions.model import RootCause, Runbook, RunbookError, Section  # noqa: E402

TARGET_MEDIAN_MS = 2.0
TARGET_RATIO = 3.0
ERRORS_PER_RUNBOOK = 4
MESSAGES = 50


def split(text: str) -> list[str]:
    return text.split()


COMMON = split(
    "error errors service users request requests latency timeout failed failing pods pod node database db cache "
    "queue connection connections restart deploy release config memory cpu disk network traffic rate spike high "
    "low slow increase dropped logs alert dashboard since minutes after before during every all some only new old "
    "the a of to in on for with when while from is are was were not no it this that we they"
)
CHATTER = [
    "joining now",
    "who is IC on this one?",
    "I can take comms",
    "ok, looking",
    "status page updated",
    "anyone from the owning team around?",
    "paging the on-call for that service",
    "let's keep the thread here",
    "ack",
    "thanks, on it",
]
SYLLABLES = split("ka lo mi nu pe ra si to vu xe ba co di fu ge ha ji ke lu ma ne or pi qu ri su te ul ve wa yo ze")


def make_vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Words:
    """Draws words: Zipf-like over the vocabulary, a third of them common incident words."""

    def __init__(self, vocabulary: list[str], rng: random.Random) -> None:
        self.vocabulary = vocabulary
        self.rng = rng
        self.cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(vocabulary))))

    def draw(self, n: int) -> list[str]:
        picks = self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=n)
        return [self.rng.choice(COMMON) if self.rng.random() < 0.33 else w for w in picks]

    def sentence(self, n: int) -> str:
        return " ".join(self.draw(n)).capitalize() + "."

    def camel(self) -> str:
        return "".join(w.capitalize() for w in self.rng.sample(self.vocabulary[:2000], 3)) + "Error"


def make_corpus(errors: int, seed: int = 7) -> list[Runbook]:
    rng = random.Random(seed)
    vocabulary = make_vocabulary(max(3000, errors * 12), rng)
    words = Words(vocabulary, rng)
    runbooks: list[Runbook] = []
    for r in range((errors + ERRORS_PER_RUNBOOK - 1) // ERRORS_PER_RUNBOOK):
        title = " ".join(words.draw(3)).title()
        heading = f"# Engineering Runbook: {title}"
        errs: list[RunbookError] = []
        for e in range(min(ERRORS_PER_RUNBOOK, errors - r * ERRORS_PER_RUNBOOK)):
            name = words.camel()
            logs = [" ".join(words.draw(rng.randint(3, 7))) for _ in range(3)]
            symptoms = "\n".join(
                [f"- {words.sentence(14)} `{logs[0]}`.", f"- {words.sentence(16)} `{logs[1]}`, `{logs[2]}`."]
                + [f"- {words.sentence(12)}" for _ in range(2)]
            )
            causes: list[RootCause] = []
            for c in range(3):
                cause_name = " ".join(words.draw(2)).title()
                description = f"{words.sentence(14)}\n   - Signs: {words.sentence(18)}"
                causes.append(RootCause(c + 1, cause_name, description, 10 + c, f"{c + 1}. {cause_name}: ..."))
            code = [" ".join(words.draw(8)), " ".join(words.draw(8))]
            remediation = "\n".join([f"1. {words.sentence(20)}", "```bash", *code, "```", f"2. {words.sentence(30)}"])
            sections = (
                Section("symptoms", "## Symptoms", symptoms, 3),
                Section("remediation", "## Remediation", remediation, 20),
                Section("verification", "## Verification", words.sentence(30), 30),
                Section("long_term", "## Long-Term Fixes", words.sentence(30), 35),
            )
            errs.append(RunbookError(name, f"## Error: {name}", 2 + e * 40, tuple(causes), sections, "## Root Causes"))
        runbooks.append(Runbook(f"rb-{r:05d}.md", title, heading, tuple(errs)))
    return runbooks


def target(runbooks: list[Runbook]) -> tuple[RunbookError, RootCause]:
    """The error the conversation is about, and the root cause it points to."""
    error = runbooks[len(runbooks) // 2].errors[0]
    return error, error.root_causes[1]


def make_conversation(runbooks: list[Runbook], seed: int = 11) -> list[str]:
    """50 messages about one error of the corpus, with chatter and noise."""
    rng = random.Random(seed)
    error, cause = target(runbooks)
    symptoms = error.sections[0].body
    logs = [part.split("`")[0] for part in symptoms.split("`")[1::2]]
    symptom_words = [w.strip(".,`-") for w in symptoms.split() if len(w) > 3]
    cause_words = [w.strip(".,-:") for w in cause.description.split() if len(w) > 3]
    noise = Words(make_vocabulary(3000, rng), rng)
    messages: list[str] = []
    for i in range(MESSAGES):
        kind = i % 5
        if kind == 0:
            messages.append(rng.choice(CHATTER))
        elif kind == 1:
            messages.append("seeing " + " ".join(rng.sample(symptom_words, 6)) + " on " + noise.draw(1)[0])
        elif kind == 2:
            messages.append(f"logs: `{rng.choice(logs)}` again" if logs else "logs are noisy")
        elif kind == 3:
            messages.append("looks like " + " ".join(rng.sample(cause_words, 5)))
        else:
            messages.append(f"no sign of {error.root_causes[2].name.lower()}, " + " ".join(noise.draw(6)))
    return messages


@dataclass
class Result:
    errors: int
    build_s: float
    median_ms: float  # engine.suggest(conversation so far), as the bot calls it
    p90_ms: float
    session_median_ms: float  # session.add(message) + session.suggest()
    cold_median_ms: float  # a new engine call with no earlier work to reuse
    top: str


def measure(errors: int, repeat: int) -> Result:
    runbooks = make_corpus(errors)
    gc.collect()
    start = time.perf_counter()
    engine = SuggestionEngine(runbooks)
    build = time.perf_counter() - start
    messages = make_conversation(runbooks)

    incremental: list[float] = []
    for _ in range(repeat):
        engine.forget()  # each replay starts with no earlier work to reuse
        for i in range(1, len(messages) + 1):
            start = time.perf_counter()
            ranked = engine.suggest(messages[:i])
            incremental.append(time.perf_counter() - start)
    session_times: list[float] = []
    for _ in range(repeat):
        session = engine.session()
        for message in messages:
            start = time.perf_counter()
            session.add(message)
            session.suggest()
            session_times.append(time.perf_counter() - start)
    cold: list[float] = []
    for i in range(5, len(messages) + 1, 5):
        engine.forget()
        start = time.perf_counter()
        engine.suggest(messages[:i])
        cold.append(time.perf_counter() - start)
    ranked = engine.suggest(messages, top=1)
    error, cause = target(runbooks)
    found = bool(ranked) and (ranked[0].error_name, ranked[0].root_cause_name) == (error.name, cause.name)
    top = f"{ranked[0].error_name} / {ranked[0].root_cause_name} ({ranked[0].score:.2f})" if ranked else "-"
    top += " (the target)" if found else " (NOT the target)"
    incremental.sort()
    return Result(
        errors=engine.size,
        build_s=build,
        median_ms=statistics.median(incremental) * 1000,
        p90_ms=incremental[int(len(incremental) * 0.9)] * 1000,
        session_median_ms=statistics.median(session_times) * 1000,
        cold_median_ms=statistics.median(cold) * 1000,
        top=top,
    )


@dataclass
class IncidentScale:
    errors: int
    messages: int
    update_median_ms: float
    update_p99_ms: float
    rank_ms: dict[int, float]  # incident size -> median ranking time from the state (warm: as after a burst)


def measure_incident(errors: int, size: int) -> IncidentScale:
    runbooks = make_corpus(errors)
    engine = SuggestionEngine(runbooks)
    conversation = make_conversation(runbooks)
    session = engine.session()
    updates: list[float] = []
    ranks: dict[int, float] = {}
    checkpoints = {1000, 10000, size}
    for i in range(size):
        text = f"{conversation[i % len(conversation)]} (#{i})"  # unique: nothing comes from the analysis cache
        start = time.perf_counter()
        session.put(f"C1/{i}", text, at=float(i))
        updates.append(time.perf_counter() - start)
        if i + 1 in checkpoints:
            times = []
            for n in range(6):  # the first after many new messages reads them; the others what a burst adds
                session.put(f"C1/extra-{i}-{n}", conversation[n], at=float(i) + 0.5)
                start = time.perf_counter()
                session.rank(top=10)
                times.append(time.perf_counter() - start)
            ranks[i + 1] = statistics.median(times[1:]) * 1000
    updates.sort()
    return IncidentScale(
        errors=engine.size,
        messages=size,
        update_median_ms=statistics.median(updates) * 1000,
        update_p99_ms=updates[int(len(updates) * 0.99)] * 1000,
        rank_ms=ranks,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="conversations replayed per size")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--incident", type=int, default=0, help="also an incident of this many messages")
    args = parser.parse_args(argv)

    results = [measure(size, args.repeat) for size in args.sizes]
    ratio = results[-1].median_ms / results[0].median_ms if len(results) > 1 and results[0].median_ms else None
    at = 1000 if 1000 in args.sizes else args.sizes[0]  # the targets are at 1,000 error sections
    scale = measure_incident(at, args.incident) if args.incident else None
    if args.json:
        out: dict[str, object] = {"results": [asdict(r) for r in results], "ratio": ratio}
        if scale is not None:
            out["incident"] = asdict(scale)
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'errors':>7} {'build s':>8} {'median ms':>10} {'p90 ms':>7} {'session ms':>11} {'cold ms':>8}  top")
    for r in results:
        print(
            f"{r.errors:>7} {r.build_s:>8.2f} {r.median_ms:>10.3f} {r.p90_ms:>7.3f} {r.session_median_ms:>11.3f} "
            f"{r.cold_median_ms:>8.2f}  {r.top}"
        )
    at_1000 = next((r for r in results if r.errors == 1000), None)
    if at_1000 is not None:
        verdict = "OK" if at_1000.median_ms <= TARGET_MEDIAN_MS else "OVER"
        median = at_1000.median_ms
        print(f"median re-rank at 1,000 error sections: {median:.3f} ms (target <= {TARGET_MEDIAN_MS}) {verdict}")
    if ratio is not None:
        verdict = "OK" if ratio <= TARGET_RATIO else "OVER"
        print(f"cost {results[0].errors} -> {results[-1].errors}: {ratio:.2f}x (target <= {TARGET_RATIO}x) {verdict}")
    if scale is not None:
        print(
            f"incident of {scale.messages:,} messages at {scale.errors:,} error sections: state update median "
            f"{scale.update_median_ms:.3f} ms (target <= 0.2), p99 {scale.update_p99_ms:.3f} ms"
        )
        for n, ms in scale.rank_ms.items():
            verdict = "OK" if ms <= TARGET_MEDIAN_MS else "OVER"
            print(f"  ranking from the state at {n:,} messages: {ms:.2f} ms (target <= {TARGET_MEDIAN_MS}) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
