"""How closely an incident's evidence resembles that of resolved incidents, for "Seen before" without a runbook.

An incident's evidence here is what people wrote in its channel, read as a bag of terms: the analyzer's canonical
stems (`bot.suggestions.text`, the same one the root-cause engine uses, so "certificate expired" and "cert has
expired" agree), less what was ruled out ("not the cert"), plus the pairs of neighbouring terms within a clause
("certif+expir"), which carry most of what is specific to a problem. A resolved incident's bag is kept as its
fingerprint (`fingerprint`, at most `FINGERPRINT_TERMS` terms).

The resemblance of the current incident to a past one is the cosine of their tf-idf vectors, idf taken over the
workspace's past incidents, so that what every incident says ("502", "rollback", "dashboard", "checkout" when
every incident is about checkout) counts for little and what only a few said counts for much. A past incident is
named (`Resemblances.best`) only when the evidence is strong:
- the incident has `MIN_MESSAGES` messages at least (an incident that opens with the same pasted line as a past
  one is often another problem: what follows tells them apart),
- the cosine is at least `MIN_SCORE`,
- they share at least `MIN_SHARED` distinctive terms (said in at most `DISTINCTIVE_SHARE` of past incidents),
- and it stands clear of the next most alike past incident by `MIN_MARGIN` (two past incidents of the same service
  with different causes both resemble a third: then nothing is said).
The thresholds were fitted on a development set written blind (`tests/eval/seen_before/dev.yaml`) and are
measured on test sets written blind and never tuned on (README, "Seen before").

Pure functions and plain data, deterministic: the engine process keeps one `Bag` per active incident, updated
message by message (an edit or a deletion takes its message's terms back), so a check costs the size of the
incident's vocabulary, never its length.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .text import analyze, generic_weight, is_stopword

PAIR = "+"  # joins the two terms of a pair: "certif+expir"
FINGERPRINT_TERMS = 300  # terms kept of a resolved incident (its most frequent)
QUERY_TERMS = 400  # terms of the current incident compared (its weightiest): bounds the cost of a check
# A term said in more past incidents than this is an everyday word there: it still counts in the norms, but past
# incidents are not scored through it (its idf is near its floor), which bounds a check at QUERY_TERMS x MAX_POSTINGS.
MAX_POSTINGS = 300


def due(said: int, checked: int | None) -> bool:
    """Whether an incident of `said` messages, last checked at `checked`, is checked again: after each message
    while it is short, then each time it has grown by a tenth, so that checks over an incident's life cost in all
    about as much as ten checks at its end (a check reads its whole vocabulary)."""
    return checked is None or said >= checked + max(1, checked // 10)


MIN_MESSAGES = 12
MIN_SCORE = 0.55
MIN_SHARED = 4
MIN_MARGIN = 0.20
DISTINCTIVE_SHARE = 0.15
PAIR_WEIGHT = 1.0
UNKNOWN_WEIGHT = 0.25  # of a term no past incident said, in the norm (an incident that says much else resembles less)


def message_terms(text: str) -> tuple[str, ...]:
    """The terms a message adds to its incident's evidence, with repeats: single terms and neighbouring pairs."""
    return tuple(term for term, _ in _terms_as_written(text))


def _terms_as_written(text: str) -> list[tuple[str, str]]:
    analysis = analyze(text)
    terms: list[tuple[str, str]] = []
    previous: tuple[str, str, int] | None = None
    for token in analysis.tokens:
        if token.negated or is_stopword(token.term) or len(token.term) < 2:
            previous = None
            continue
        surface = token.surface.lower()
        terms.append((token.term, surface))
        terms.extend((extra, surface) for extra in token.extras)
        if previous is not None and previous[2] == token.clause and previous[0] != token.term:
            terms.append((previous[0] + PAIR + token.term, f"{previous[1]} {surface}"))
        previous = (token.term, surface, token.clause)
    return terms


@dataclass(slots=True)
class Bag:
    """An incident's evidence as counted terms, kept up to date as messages come, change and go."""

    counts: Counter[str] = field(default_factory=Counter)
    written: dict[str, str] = field(default_factory=dict)  # term -> how it was last written ("expired cert")
    _by_key: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def put(self, key: str, text: str) -> None:
        self.remove(key)
        pairs = _terms_as_written(text)
        terms = tuple(term for term, _ in pairs)
        self._by_key[key] = terms
        self.counts.update(terms)
        self.written.update(pairs)

    def remove(self, key: str) -> None:
        old = self._by_key.pop(key, None)
        if old:
            self.counts.subtract(old)
            for term in set(old):
                if self.counts[term] <= 0:
                    del self.counts[term]
                    self.written.pop(term, None)

    def as_written(self, terms: Iterable[str]) -> tuple[str, ...]:
        """Terms as people wrote them, without repeating what a pair already says."""
        shown: list[str] = []
        for term in terms:
            words = self.written.get(term, term)
            if any(words in s.split(" ") or s == words for s in shown):
                continue
            shown = [s for s in shown if s not in words.split(" ")]
            shown.append(words)
        return tuple(shown)

    def __len__(self) -> int:
        return len(self._by_key)


def fingerprint(counts: Mapping[str, int], most: int = FINGERPRINT_TERMS) -> dict[str, int]:
    """What is kept of a resolved incident's evidence: its `most` most frequent terms (ties by name)."""
    kept = heapq.nsmallest(most, ((-n, term) for term, n in counts.items() if n > 0))
    return {term: -n for n, term in kept}


def bag_of(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(message_terms(text))
    return counts


@dataclass(frozen=True, slots=True)
class Resemblance:
    """A past incident the evidence resembles: how much, and the distinctive terms both share (weightiest first)."""

    incident_id: int
    score: float
    shared: tuple[str, ...]
    margin: float  # over the next most alike past incident (the score itself when there is none)


def _tf(n: int) -> float:
    return 1.0 + math.log(n)


@lru_cache(maxsize=65536)
def _term_weight(term: str) -> float:
    if PAIR in term:
        first, second = term.split(PAIR, 1)
        return PAIR_WEIGHT * math.sqrt(min(generic_weight(first), generic_weight(second)))
    return generic_weight(term)


class Resemblances:
    """The past incidents of one workspace, indexed to find which one an incident's evidence resembles."""

    def __init__(self, past: Mapping[int, Mapping[str, int]]) -> None:
        self.size = len(past)
        df: Counter[str] = Counter()
        for counts in past.values():
            df.update(counts.keys())
        self._df = df
        lists: dict[str, tuple[list[int], list[float]]] = {}
        for incident_id, counts in past.items():
            vector = {t: _tf(n) * self._idf(t) * _term_weight(t) for t, n in counts.items() if n > 0}
            norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
            for term, w in vector.items():
                ids, weights = lists.setdefault(term, ([], []))
                ids.append(incident_id)
                weights.append(w / norm)
        # Compact: two arrays per term (12 bytes a posting, not a tuple's 70).
        self._postings = {term: (array("q", ids), array("d", weights)) for term, (ids, weights) in lists.items()}

    def _idf(self, term: str) -> float:
        return math.log((self.size + 1) / (self._df[term] + 0.5)) + 0.1

    def distinctive(self, term: str) -> bool:
        return self._df.get(term, 0) <= max(1, math.floor(DISTINCTIVE_SHARE * self.size))

    def ranked(self, counts: Mapping[str, int], top: int = 3, besides: int | None = None) -> list[Resemblance]:
        """The past incidents most alike, best first (cosine of tf-idf vectors), with what they share."""
        df = self._df
        vector = {t: _tf(n) * self._idf(t) * _term_weight(t) for t, n in counts.items() if n > 0 and t in df}
        if not vector:
            return []
        # The norm is over everything the incident said, known to the past or not: an incident that says much
        # else resembles less.
        unknown = sum(_tf(n) ** 2 for t, n in counts.items() if n > 0 and t not in df) * UNKNOWN_WEIGHT
        norm = math.sqrt(sum(w * w for w in vector.values()) + unknown) or 1.0
        query = heapq.nlargest(QUERY_TERMS, vector.items(), key=lambda item: item[1])
        scores: dict[int, float] = {}
        contributions: dict[int, list[tuple[float, str]]] = {}
        for term, w in query:
            ids, weights = self._postings[term]
            if len(ids) > MAX_POSTINGS:
                continue
            distinctive = self.distinctive(term)
            for incident_id, pw in zip(ids, weights, strict=True):
                if incident_id == besides:
                    continue
                part = w / norm * pw
                scores[incident_id] = scores.get(incident_id, 0.0) + part
                if distinctive:
                    contributions.setdefault(incident_id, []).append((part, term))
        best = heapq.nlargest(top + 1, scores.items(), key=lambda item: (item[1], -item[0]))
        ranked = []
        for i, (incident_id, score) in enumerate(best[:top]):
            runner_up = best[i + 1][1] if i + 1 < len(best) else 0.0
            shared = tuple(term for _, term in sorted(contributions.get(incident_id, ()), reverse=True))
            ranked.append(Resemblance(incident_id, score, shared, score - runner_up))
        return ranked

    def best(self, counts: Mapping[str, int], messages: int, besides: int | None = None) -> Resemblance | None:
        """The past incident the evidence (`counts`, from `messages` messages besides the title) resembles strongly
        enough to say so, or None (stay silent)."""
        if messages < MIN_MESSAGES:
            return None
        ranked = self.ranked(counts, top=1, besides=besides)
        if not ranked:
            return None
        top = ranked[0]
        if top.score < MIN_SCORE or len(top.shared) < MIN_SHARED or top.margin < MIN_MARGIN:
            return None
        return top
