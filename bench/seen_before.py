""" "Seen before" by resemblance benchmark: the index of a workspace's resolved incidents and one check of an active
incident against it, on the day it hurts: 500 resolved incidents (the most the bot compares), each fingerprinted
from a long, keyword-rich channel, and an active incident of 30,000 messages.

Synthetic and deterministic (seeded): each incident's messages mix everyday incident chatter (the same few hundred
words in every channel), words of its service (a few dozen services), and words of its own problem drawn Zipf-style
from a large vocabulary, with pasted identifiers. It reports:
- fingerprint: counting the terms of one resolved incident of 2,000 messages (`bag_of` + `fingerprint`), as the
  fingerprint job does in the engine's process;
- index: building `Resemblances` from 500 fingerprints (done in the engine's process when one is written), and
  the memory it takes (tracemalloc);
- bag update: one message put into an active incident's bag (median, p99), as the engine does per message;
- check: `Resemblances.best` for the active incident at 1,000 / 10,000 / 30,000 messages (median of 20), and all
  the checks of the incident's life as the engine makes them (`due`: after each message while short, then at each
  tenth of growth), per message.

    python bench/seen_before.py [--past 500] [--incident 30000] [--json]

Targets: checks <= 0.2 ms per message over an incident's life at any length; the index <= 50 MB and built in a
few seconds (once per resolution, in the engine's process).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import tracemalloc

from bot.suggestions.resemblance import Bag, Resemblances, bag_of, due, fingerprint

CHATTER_WORDS = (
    "joining looking checking restart rollback deploy dashboard grafana latency errors p99 pods users customers "
    "status page updated comms IC thanks mitigated alerts spike timeout retry queue db cache traffic seeing "
    "looks better worse again still now incident channel"
)
CHATTER = CHATTER_WORDS.split()


def vocabulary(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(n)]


def channel(rng: random.Random, service: list[str], problem: list[str], messages: int) -> list[str]:
    out = []
    for i in range(messages):
        words = rng.sample(CHATTER, 4) + rng.sample(service, 2)
        words += [problem[min(int(rng.paretovariate(1.2)) - 1, len(problem) - 1)] for _ in range(3)]
        words.append(f"pod-{rng.randrange(16**6):06x} req {i}")
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--past", type=int, default=500)
    parser.add_argument("--incident", type=int, default=30000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    words = vocabulary(rng, 40000)
    services = [words[i * 40 : (i + 1) * 40] for i in range(40)]
    problems = [words[2000 + i * 15 : 2000 + (i + 1) * 15] for i in range(args.past + 1)]

    started = time.perf_counter()
    long_one = fingerprint(bag_of(channel(rng, services[0], problems[0], 2000)))
    fingerprint_ms = (time.perf_counter() - started) * 1000

    past = {i: fingerprint(bag_of(channel(rng, services[i % 40], problems[i], 60))) for i in range(args.past)}
    past[0] = long_one
    started = time.perf_counter()
    index = Resemblances(past)
    index_ms = (time.perf_counter() - started) * 1000
    tracemalloc.start()  # measured apart: tracing slows the build several times
    kept = Resemblances(past)
    index_mb = tracemalloc.get_traced_memory()[0] / 1e6
    del kept
    tracemalloc.stop()

    bag = Bag()
    puts: list[float] = []
    checks: dict[int, float] = {}
    checked: int | None = None
    all_checks = 0.0
    stream = channel(rng, services[3], problems[3], args.incident)
    for n, text in enumerate(stream, start=1):
        started = time.perf_counter()
        bag.put(f"m{n}", text)
        puts.append((time.perf_counter() - started) * 1000)
        if due(n, checked):  # as the engine checks after a burst
            checked = n
            started = time.perf_counter()
            index.best(bag.counts, n)
            all_checks += (time.perf_counter() - started) * 1000
        if n in (1000, 10000, args.incident):
            times = []
            for _ in range(20):
                started = time.perf_counter()
                index.best(bag.counts, n)
                times.append((time.perf_counter() - started) * 1000)
            checks[n] = statistics.median(times)
    puts.sort()
    result = {
        "past_incidents": args.past,
        "fingerprint_2000_messages_ms": round(fingerprint_ms, 1),
        "index_build_ms": round(index_ms, 1),
        "index_mb": round(index_mb, 1),
        "bag_put_median_ms": round(puts[len(puts) // 2], 3),
        "bag_put_p99_ms": round(puts[int(len(puts) * 0.99)], 3),
        "check_median_ms": {str(n): round(ms, 2) for n, ms in checks.items()},
        "checks_per_message_ms": round(all_checks / args.incident, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
