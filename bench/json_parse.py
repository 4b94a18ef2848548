"""JSON parse micro-benchmark: what `orjson` or `msgspec` would save over the stdlib `json` in the front door's parse
of a signed message event body (bytes -> dict), per event, in microseconds.

The front door (bot/slack/http.py `parse_body`) decodes the verified bytes as UTF-8 and then `json.loads` the text.
This times that against `orjson.loads(bytes)` and `msgspec.json` (module function, and a reused `Decoder`) on the
bodies bench/ingest.py sends: a typical message event (runbook-vocabulary chat, ~0.9 KB with its rich-text block)
and one with a long message (4,000 characters). Every parser must give the same dict as the stdlib, or the run stops.
The parsers are timed in turns (round-robin over `--repeat` rounds of `--number` calls) so that a noisy machine
affects them alike; the figure is the best round (the median is shown too).

Neither orjson nor msgspec is a dependency of the bot; to measure them:

    pip install orjson msgspec
    python bench/json_parse.py
    python bench/json_parse.py --number 20000 --repeat 15 --json

It also prints how the three differ on bodies the front door must handle (lone surrogates, invalid UTF-8, deep
nesting, NaN, huge integers), which a switch would have to keep as they are.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(SCRIPT.parent))  # bench/ingest.py: the same event bodies
sys.path.insert(0, str(ROOT))  # `bot` without installing it, when run from a checkout

from ingest import Addressing, EventFactory  # noqa: E402

Parser = Callable[[bytes], Any]
TO = Addressing("T0BENCH01", "A0BENCH01", "U0BENCHBOT", "U0BENCHUSR", "C0BENCHINC")
EDGE_CASES = {
    "lone surrogate escape": b'{"type":"event_callback","event":{"text":"\\ud800 x"}}',
    "NUL escape": b'{"type":"event_callback","event":{"text":"a\\u0000b"}}',
    "invalid UTF-8": b'{"type":"event_callback","event":{"text":"\xff"}}',
    "UTF-16 body": '{"type":"event_callback"}'.encode("utf-16"),
    "nesting 100,000 deep": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "NaN": b'{"type":"event_callback","n":NaN}',
    "30-digit integer": b'{"type":"event_callback","n":123456789012345678901234567890}',
}


def bodies() -> dict[str, bytes]:
    factory = EventFactory("runbook")
    typical = factory.bodies(TO, 10)[3]  # one of the log-string lines
    long = factory.body(TO, ("pool timeouts again on checkout; " * 125)[:4000])
    return {"typical message event": typical, "message of 4,000 characters": long}


def parsers() -> tuple[dict[str, Parser], list[str]]:
    """The parsers that can be timed here, and the ones that are not installed."""
    from bot.slack.http import parse_body

    found: dict[str, Parser] = {
        "stdlib json.loads(raw.decode()) [front door today]": lambda raw: json.loads(raw.decode("utf-8")),
        "stdlib json.loads(raw)": json.loads,
        "front door parse_body() (+ envelope check)": lambda raw: parse_body(raw, "application/json"),
    }
    missing = []
    try:
        import orjson

        found["orjson.loads(raw)"] = orjson.loads
    except ImportError:
        missing.append("orjson")
    try:
        import msgspec

        found["msgspec.json.decode(raw)"] = msgspec.json.decode
        found["msgspec.json.Decoder().decode(raw)"] = msgspec.json.Decoder().decode
    except ImportError:
        missing.append("msgspec")
    return found, missing


def measure(body: bytes, found: dict[str, Parser], number: int, repeat: int) -> dict[str, list[float]]:
    """µs per parse for each parser, one figure per round; the parsers take turns within every round."""
    expected = json.loads(body.decode("utf-8"))
    for name, parse in found.items():
        if parse(body) != expected:
            raise SystemExit(f"{name} does not give the stdlib's dict for this body")
    rounds: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(repeat):
        for name, parse in found.items():
            seconds = timeit.timeit(lambda parse=parse: parse(body), number=number)  # type: ignore[misc]
            rounds[name].append(1e6 * seconds / number)
    return rounds


def edge_cases(found: dict[str, Parser]) -> dict[str, dict[str, str]]:
    """What each parser does with bodies the front door must treat as it does now."""
    out: dict[str, dict[str, str]] = {}
    for case, raw in EDGE_CASES.items():
        out[case] = {}
        for name, parse in found.items():
            if name.startswith(("stdlib json.loads(raw)", "front door")):
                continue
            try:
                value = parse(raw)
            except (ValueError, RecursionError) as e:  # JSONDecodeError, msgspec.DecodeError, UnicodeDecodeError
                out[case][name] = f"raises {type(e).__name__}"
            else:
                out[case][name] = f"-> {json.dumps(value, allow_nan=True)[:60]}"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=10000, help="parses per round (default 10000)")
    parser.add_argument("--repeat", type=int, default=9, help="rounds per parser (default 9)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.number < 1 or args.repeat < 1:
        parser.error("--number and --repeat must be >= 1")
    found, missing = parsers()
    results: dict[str, Any] = {"python": sys.version.split()[0], "missing": missing, "bodies": {}}
    lines = [f"JSON parse, bytes -> dict, µs per event (Python {results['python']}; best of {args.repeat} rounds)"]
    baseline = next(iter(found))
    for label, body in bodies().items():
        rounds = measure(body, found, args.number, args.repeat)
        best = {name: min(values) for name, values in rounds.items()}
        figures = {
            name: {
                "us_best": best[name],
                "us_median": statistics.median(rounds[name]),
                "saves_us": best[baseline] - best[name],
                "saves_share": 1 - best[name] / best[baseline],
            }
            for name in found
        }
        results["bodies"][label] = {"bytes": len(body), "parsers": figures}
        lines += ["", f"{label}, {len(body):,} bytes", f"{'':<52}{'best':>8}{'median':>8}{'saves':>9}{'':>6}"]
        for name, f in figures.items():
            saves = "" if name == baseline else f"{f['saves_us']:>9.2f}{f['saves_share']:>6.0%}"
            lines.append(f"{name:<52}{f['us_best']:>8.2f}{f['us_median']:>8.2f}{saves}")
    results["edge_cases"] = edge_cases(found)
    lines += [
        "",
        "bodies the front door must keep handling as now (it decodes UTF-8 itself, replaces lone surrogates):",
    ]
    for case, said in results["edge_cases"].items():
        lines.append(f"  {case}: " + "; ".join(f"{name.split('(')[0]}: {what}" for name, what in said.items()))
    if missing:
        lines.append(f"\nnot installed: {', '.join(missing)} (pip install {' '.join(missing)}; not a bot dependency)")
    print(json.dumps(results, indent=2) if args.json else "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
