"""The root-cause engine: ranks (runbook, error, root cause) triples for what responders say in an incident channel.

    engine = SuggestionEngine(runbooks)                 # indexes once
    engine.suggest(messages, top=3)                     # those above engine.threshold, best first
    engine.rank(messages, top=3)                        # best first, whatever their score
    session = engine.session(); session.add(text); session.suggest()   # incremental, per conversation
    library = RunbookLibrary(Path("runbooks")); library.engine()       # reloads when the files change

How a triple is scored (all weights below are in "units of one distinctive term"):

* Error level. Every error section is a document (its name, symptoms, root causes, the runbook's title and
  keywords at full weight; remediation and the other sections at a third). Message terms are weighted BM25-style
  with an IDF normalised to [0, 1] over the error sections (log(N+1/df) / log(N+1)), floored so that a term found
  in most sections counts nothing, and generic incident words ("error", "users", "service") count a quarter.
* Anchors. Log strings (backticked, quoted or fenced in Symptoms, and backticked in root causes) and the error
  name are matched as normalised term sequences: whole, or for long strings by bigram containment. An anchor's
  worth depends on how specific its words are and how many errors share it.
* Root-cause level. Terms of a cause's name and description weigh by how much they tell it apart from its
  siblings (1 - share of siblings that have them), so sibling causes are separated by their own evidence.
* Negation. Ruled-out terms ("no sign of X", "X looks fine", "ruled out X", "wasn't X") count against what they
  point to: the sibling cause whose distinctive words they hit, or else the whole error. A later ruling-out
  cancels earlier mentions of the same thing, and a later mention revives it. Negations that describe the fault
  ("never returned to the pool") are matched like any phrase, against the same negation in the runbook.
* Confidence = logistic(ALPHA * (evidence - BETA)) for the error with its best-supported cause, times
  e^(-CAUSE_GAP * gap) for a cause whose own evidence is `gap` behind that sibling's; suggest() keeps those at or
  above `threshold` (0.5). BETA is about two specific log strings, or a log string and a few distinctive words,
  or five or six distinctive words and phrases: a single word, or a few common ones, never get there. It sits
  midway (geometrically) between the strongest unrelated conversation and the weakest real one of the
  evaluation set, which are about 3.6 and 7.3 units.

Ties are broken by runbook path, error position and cause number, so the output is a function of the messages
and the set of runbooks only (not of their order).
"""

from __future__ import annotations

import bisect
import heapq
import math
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

from .model import Problem, RootCause, Runbook, RunbookError, citation
from .text import HYPOTHESIS, NEGATED, Analysis, Token, analyze, generic_weight, negative_answer, not_a_fault

__all__ = ["Learned", "RunbookLibrary", "Session", "Suggestion", "SuggestionEngine"]

# --------------------------------------------------------------------------------------------- parameters

THRESHOLD = 0.5
ALPHA = 0.9  # steepness of the confidence curve
BETA = 5.5  # evidence at which the confidence is 0.5 (= THRESHOLD)

W_ANCHOR = 2.5  # a fully specific log string or error name
W_CAUSE = 1.0  # distinctive root-cause evidence
W_BEHIND = 0.6  # per unit of evidence a cause is behind its best sibling
CAUSE_GAP = 0.5  # confidence in a cause falls as e^-(this x its gap to the best sibling's evidence)
CAUSE_BIGRAM = 0.35  # word pairs count this much towards a root cause (its words already count)
NEG_ERROR = 1.0  # a ruled-out term against an error, times its weight
NEG_CAUSE = 1.5  # a ruled-out term against the cause it distinguishes
NAME_BONUS = 0.3  # an error name is a little more than a log string
CAUSE_ANCHOR_AT_ERROR = 0.5  # a root cause's log string also counts (this much) for its error

TERM_CAP = 2.0  # most one word can add to a triple's evidence, error and cause level together
IDF_FLOOR = 0.2  # normalised IDF below which a term counts nothing (it is in most error sections)
K1, B = 0.8, 0.5  # BM25 term-frequency saturation and length normalisation of error sections
FIELD_NAME, FIELD_MAIN, FIELD_SERVICES, FIELD_MINOR = 3.0, 1.0, 0.5, 0.3  # field weights in an error section
CAUSE_NAME_WEIGHT = 1.5  # a root cause's name weighs more than its description
BIGRAM_WEIGHT = 1.0  # adjacent words ("pool exhausted") also count as a pair
CAUSE_B = 0.5  # length normalisation of root-cause descriptions among siblings
SYMPTOM_DISCOUNT = 0.25  # a cause's word that the error's symptoms also use separates causes this much

SELECTIVE_DF = 64  # terms in more error sections than this do not nominate candidates (they still score them)
CANDIDATES = 16  # best candidates by term evidence kept for exact scoring
CAUSE_CANDIDATES = 8  # errors whose root causes are scored: the best ones by error-level evidence ...
CAUSE_CANDIDATE_SHARE = 0.25  # ... with at least this share of the best one's
LEARN = 1.0  # most that past decisions of a workspace shift a root cause's evidence, either way
LEARNED = "@learned"  # its part of a cause's evidence
RECENT = 30  # the last messages the decision's support features look at (cost bounded at any incident length)
LOG_PROSE = 0.5  # words of a pasted log line count this much as words (its log strings are matched whole)
MEASURED_NOTHING = frozenset({"0", "zero"})  # cues of "X is 0" (bot/suggestions/text.py)
EVIDENCE_LINES = 6
EVIDENCE_TERMS = 24  # strongest words considered for the evidence lines
EXCERPT = 110


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _sat(count: float) -> float:
    """A term said once counts 1, more often up to 1.5; in a question alone, half."""
    return count if count <= 1.0 else 1.0 + 0.5 * (1.0 - 1.0 / count)


# ---------------------------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Suggestion:
    runbook: Runbook
    error: RunbookError
    cause: RootCause
    score: float  # confidence in [0, 1]
    citation: str
    evidence: tuple[str, ...]
    alternatives: tuple[str, ...]
    refuted: tuple[str, ...] = ()  # what was said that rules this root cause out, latest first
    error_evidence: float = 0.0  # evidence for its error (log strings, names, words), in units
    cause_evidence: float = 0.0  # evidence for this root cause of the error in particular
    sibling_gap: float = 0.0  # how far its cause evidence is ahead of the best sibling's (negative: behind)
    cause_messages: int = 0  # recent messages that observed (did not only guess) something of this root cause
    error_messages: int = 0  # recent messages that observed something of its error
    rival_gap: float = 0.0  # how far its error's evidence is ahead of the next best error's (negative: behind)
    anchored: bool = False  # a log string or name of its error was matched whole in an observation
    not_a_fault: int = 0  # messages (the title too) that say this is planned work, a drill, a false alarm...
    support_share: float = 0.0  # share of the recent messages that observed something of its error

    @property
    def runbook_title(self) -> str:
        return self.runbook.title

    @property
    def error_name(self) -> str:
        return self.error.name

    @property
    def root_cause_name(self) -> str:
        return self.cause.name

    def to_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook.title,
            "error": self.error.name,
            "root_cause": self.cause.name,
            "score": round(self.score, 4),
            "citation": self.citation,
            "evidence": list(self.evidence),
        }


# ----------------------------------------------------------------------------------------------- index

_BACKTICK = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^\s*(```|~~~).*?$(.*?)^\s*\1", re.M | re.S)
_QUOTED = re.compile(r"[\"“]([^\"“”\n]{4,200})[\"”]")
_BOLD = re.compile(r"\*\*([^*\n]{4,200})\*\*")
_BLOCKQUOTE = re.compile(r"^\s*>\s?(.+)$", re.M)
_LIST_START = re.compile(r"^\s*([-*+]|\d+[.)]|#|\||>|```|~~~)")
_NUMBER = re.compile(r"(?<![\w.])\d{1,2}(?![\w.])")
_QUOTED_VALUE = re.compile(r"(?<!\w)(\"[^\"\n]{1,80}\"|'[^'\n]{1,80}')(?!\w)")
_IDENTIFIER = re.compile(r"^\S*([A-Z0-9_.:/=-])\S*$")
_NAME_SUFFIXES = ("error", "exception", "failur", "fail")


def _unwrap(markdown: str) -> str:
    """Join hard-wrapped lines so that sentences (and negation scopes) are not cut at the line end."""
    out: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence or not out or not stripped or _LIST_START.match(line) or not out[-1].strip():
            out.append(line)
        else:
            out[-1] = out[-1].rstrip() + " " + stripped
    return "\n".join(out)


def _log_strings(markdown: str) -> list[str]:
    """Exact strings a runbook expects people to paste: backticked, quoted, bold, fenced or block-quoted."""
    found: list[str] = []
    for m in _FENCE.finditer(markdown):
        found.extend(line.strip() for line in m.group(2).splitlines() if line.strip())
    without_fences = _FENCE.sub(" ", markdown)
    for pattern in (_BACKTICK, _QUOTED, _BOLD, _BLOCKQUOTE):
        found.extend(m.group(1).strip() for m in pattern.finditer(without_fences))
    return [s for s in found if s]


def _anchor_key(token: Token) -> str | None:
    """Numbers that vary between occurrences (durations, ids, ports) are left out of sequences."""
    if sum(c.isdigit() for c in token.term) >= 4:
        return None
    return token.key


def _keys(analysis: Analysis) -> tuple[str, ...]:
    return tuple(k for k in (_anchor_key(t) for t in analysis.tokens) if k is not None)


def _bag(analysis: Analysis) -> list[tuple[str, float]]:
    """(key, weight) for a bag of words and of adjacent word pairs ("pool exhaust"); a descriptive negation also
    counts, at half, as the plain word."""
    out: list[tuple[str, float]] = []
    tokens = analysis.tokens
    for i, t in enumerate(tokens):
        out.append((t.key, 1.0))
        if t.negated and not t.ruled_out:
            out.append((t.term, 0.5))
        out.extend((x, 1.0) for x in t.extras)
        if i + 1 < len(tokens) and tokens[i + 1].clause == t.clause:
            out.append((_pair(t, tokens[i + 1]), BIGRAM_WEIGHT))
    return out


def _pair(a: Token, b: Token) -> str:
    return f"{a.key} {b.key}"


@dataclass(slots=True)
class _Anchor:
    keys: tuple[str, ...]
    bigrams: frozenset[tuple[str, str]]
    text: str  # as written in the runbook (first occurrence)
    numbers: frozenset[str]  # small numbers in it that the words leave out ("Exit Code: 1")
    owners: list[tuple[int, int]] = field(default_factory=list)  # (doc, cause index | -1 symptoms | -2 name)
    quality: float = 0.0  # in [0, 1]
    at_error: dict[int, bool] = field(default_factory=dict)  # doc -> in its name or symptoms (not only a cause)


@dataclass(slots=True)
class _Cause:
    cause: RootCause
    weights: dict[str, float]  # key -> distinctiveness x specificity (only > 0)
    neg_keys: frozenset[str]  # negated keys in its text ("traffic is normal")
    distinct: frozenset[str]  # plain terms that mostly this sibling has
    anchors: dict[int, float] = field(default_factory=dict)  # anchor id -> distinctiveness


@dataclass(slots=True)
class _Doc:
    index: int
    runbook: Runbook
    error: RunbookError
    position: int  # of the error in its runbook
    weights: dict[str, float]  # key -> BM25 weight
    observed: frozenset[str]  # keys of the name, symptoms, title and keywords
    affirm: frozenset[str]  # negated keys of the name and symptoms: a negation in chat that matches them describes
    causes: list[_Cause]
    distinct_any: frozenset[str]  # words that point to one of its causes more than to the others


class _Index:
    def __init__(self, runbooks: Sequence[Runbook]) -> None:
        self.docs: list[_Doc] = []
        self.anchors: list[_Anchor] = []
        self.postings: dict[str, list[tuple[int, float]]] = {}  # key -> (doc, weight)
        self.by_bigram: dict[tuple[str, str], list[int]] = {}
        self.by_unigram: dict[str, list[int]] = {}
        self.idf: dict[str, float] = {}
        self._build(runbooks)

    # -- building ------------------------------------------------------------------------------------------

    def _build(self, runbooks: Sequence[Runbook]) -> None:
        bags: list[list[tuple[str, float, bool]]] = []  # per doc: (key, field weight, observed: name/symptoms)
        affirm: list[set[str]] = []
        cause_bags: list[list[tuple[dict[str, float], set[str]]]] = []  # per doc, per cause: (key -> w, negated)
        anchor_texts: list[list[tuple[str, int]]] = []  # per doc: (text, owner)

        def add(bag: list[tuple[str, float, bool]], text: str, weight: float, observed: bool) -> Analysis:
            analysis = analyze(text)
            bag.extend((k, w * weight, observed) for k, w in _bag(analysis))
            return analysis

        for runbook in runbooks:
            common: list[tuple[str, float, bool]] = []
            add(common, runbook.title, FIELD_MAIN, True)
            for keyword in runbook.keywords:
                add(common, keyword, FIELD_MAIN, True)
            for service in runbook.services:
                add(common, service, FIELD_SERVICES, False)
            if runbook.intro:
                add(common, _unwrap(runbook.intro), FIELD_MINOR, False)
            for position, error in enumerate(runbook.errors):
                self.docs.append(
                    _Doc(len(self.docs), runbook, error, position, {}, frozenset(), frozenset(), [], frozenset())
                )
                bag = list(common)
                name = add(bag, error.name, FIELD_NAME, True)
                negs = {t.key for t in name.tokens if t.negated}
                texts: list[tuple[str, int]] = [(error.name, -2)]
                for section in error.sections:
                    symptoms = section.kind == "symptoms"
                    analysis = add(bag, _unwrap(section.body), FIELD_MAIN if symptoms else FIELD_MINOR, symptoms)
                    if symptoms:
                        negs |= {t.key for t in analysis.tokens if t.negated}
                        texts += [(s, -1) for s in _log_strings(section.body)]
                per_cause: list[tuple[dict[str, float], set[str]]] = []
                for ci, cause in enumerate(error.root_causes):
                    words: dict[str, float] = {}
                    cneg: set[str] = set()
                    for text, weight in ((cause.name, CAUSE_NAME_WEIGHT), (_unwrap(cause.description), 1.0)):
                        analysis = add(bag, text, weight * FIELD_MAIN, False)
                        for k, w in _bag(analysis):
                            words[k] = max(words.get(k, 0.0), w * weight)
                        cneg |= {t.key for t in analysis.tokens if t.negated}
                    per_cause.append((words, cneg))
                    texts += [(s, ci) for s in _log_strings(cause.description)]
                    texts += [(w, ci) for w in cause.wordings]  # `Said as:` phrases, matched whole
                texts += [(w, -1) for w in error.wordings]
                bags.append(bag)
                affirm.append(negs)
                cause_bags.append(per_cause)
                anchor_texts.append(texts)

        n = len(self.docs)
        df: dict[str, int] = {}
        tfs: list[dict[str, float]] = []
        for doc, bag in zip(self.docs, bags, strict=True):
            tf: dict[str, float] = {}
            seen: set[str] = set()
            for k, w, o in bag:
                tf[k] = tf.get(k, 0.0) + w
                if o:
                    seen.add(k)
            tfs.append(tf)
            doc.observed = frozenset(seen)
            for k in tf:
                df[k] = df.get(k, 0) + 1
        log_n = math.log(n + 1) if n else 1.0
        self.idf = {k: math.log((n + 1) / d) / log_n for k, d in sorted(df.items())}
        worth = {k: max(0.0, (idf - IDF_FLOOR) / (1 - IDF_FLOOR)) * generic_weight(k) for k, idf in self.idf.items()}
        lengths = [sum(tf.values()) for tf in tfs]
        avg = (sum(lengths) / n) if n else 1.0
        postings = self.postings
        for doc, tf in zip(self.docs, tfs, strict=True):
            norm = K1 * (1 - B + B * lengths[doc.index] / avg)
            weights = doc.weights
            for k, f in tf.items():
                w = worth[k]
                if w > 0:
                    weights[k] = weight = w * f * (K1 + 1) / (f + norm)
                    postings.setdefault(k, []).append((doc.index, weight))
        for doc, negs, per_cause in zip(self.docs, affirm, cause_bags, strict=True):
            doc.affirm = frozenset(negs)
            doc.causes = self._causes(doc, per_cause)
            doc.distinct_any = frozenset().union(*(c.distinct for c in doc.causes)) if doc.causes else frozenset()
        self._anchors(anchor_texts)
        # every key some section or root cause gives weight to: other words of a conversation never count
        self.vocabulary: frozenset[str] = frozenset(postings).union(
            *(c.weights.keys() for doc in self.docs for c in doc.causes)
        )

    def _causes(self, doc: _Doc, per_cause: list[tuple[dict[str, float], set[str]]]) -> list[_Cause]:
        causes: list[_Cause] = []
        siblings = len(per_cause) - 1
        lengths = [sum(words.values()) for words, _ in per_cause]
        average = sum(lengths) / len(lengths) if lengths else 1.0
        for ci, (words, negs) in enumerate(per_cause):
            weights: dict[str, float] = {}
            distinct: set[str] = set()
            # a long description matches more words by chance: normalise as BM25 does
            norm = 1.0 - CAUSE_B + CAUSE_B * lengths[ci] / average if average else 1.0
            for k, w in words.items():
                if siblings == 0:
                    break
                shared = sum(1 for cj, other in enumerate(per_cause) if cj != ci and k in other[0])
                d = 1.0 - shared / siblings
                if d <= 0:
                    continue
                if d >= 0.5 and not k.startswith(NEGATED) and " " not in k:
                    distinct.add(k)
                if k in doc.observed:  # the error's own symptoms say it: it tells little about which cause
                    d *= SYMPTOM_DISCOUNT
                g = (0.4 + 0.6 * self.idf.get(k, 1.0)) * generic_weight(k)
                if " " in k:
                    g *= CAUSE_BIGRAM
                weights[k] = d * g * w / norm
            causes.append(_Cause(doc.error.root_causes[ci], weights, frozenset(negs), frozenset(distinct)))
        return causes

    def _anchors(self, anchor_texts: list[list[tuple[str, int]]]) -> None:
        by_keys: dict[tuple[str, ...], int] = {}
        for doc, texts in zip(self.docs, anchor_texts, strict=True):
            for text, owner in texts:
                variants = [_keys(analyze(text))]
                if owner == -2 and len(variants[0]) > 2 and variants[0][-1] in _NAME_SUFFIXES:
                    variants.append(variants[0][:-1])  # "ConnectionPoolTimeout(Error)" said as words
                general = _QUOTED_VALUE.sub(" ", text)
                if general != text:  # `column "discount_code" does not exist`: the quoted value varies
                    keys = _keys(analyze(general))
                    if len(keys) >= 2:
                        variants.append(keys)
                for keys in variants:
                    if not keys or (len(keys) == 1 and owner != -2 and not _IDENTIFIER.match(text)):
                        continue  # a single plain word is no better than the word itself
                    aid = by_keys.get(keys)
                    if aid is None:
                        aid = by_keys[keys] = len(self.anchors)
                        bigrams = frozenset(pairwise(keys))
                        numbers = frozenset(n for n in _NUMBER.findall(text) if n not in keys)
                        self.anchors.append(_Anchor(keys, bigrams, text, numbers))
                    anchor = self.anchors[aid]
                    if (doc.index, owner) not in anchor.owners:
                        anchor.owners.append((doc.index, owner))
        n = len(self.docs)
        log_n = math.log(n + 1) if n else 1.0
        for aid, anchor in enumerate(self.anchors):
            docs = {d for d, _ in anchor.owners}
            spread = math.log((n + 1) / len(docs)) / log_n if n else 1.0
            info = sum(self.idf.get(k.removeprefix(NEGATED), 1.0) * generic_weight(k) for k in set(anchor.keys))
            quality = min(1.0, 0.3 * (len(anchor.keys) - 1) + 0.6 * info) * spread
            if any(owner == -2 for _, owner in anchor.owners):
                quality = min(1.0, quality + NAME_BONUS)
            anchor.quality = quality
            if quality < 0.05:
                continue
            if len(anchor.keys) == 1:
                self.by_unigram.setdefault(anchor.keys[0], []).append(aid)
            else:
                for bigram in sorted(anchor.bigrams):
                    self.by_bigram.setdefault(bigram, []).append(aid)
            for d, owner in anchor.owners:
                anchor.at_error[d] = anchor.at_error.get(d, False) or owner < 0
                doc = self.docs[d]
                if owner >= 0:
                    siblings = len(doc.causes) - 1
                    shared = len({o for dd, o in anchor.owners if dd == d and o >= 0 and o != owner})
                    distinct = 1.0 - shared / siblings if siblings else 0.0
                    if all(k in doc.observed for k in anchor.keys):
                        distinct *= SYMPTOM_DISCOUNT
                    doc.causes[owner].anchors[aid] = distinct

    # -- matching ------------------------------------------------------------------------------------------

    def match_anchors(self, analysis: Analysis) -> list[tuple[int, float]]:
        """(anchor id, fraction matched) for the anchors found in one message (best fraction of each)."""
        best: dict[int, float] = {}
        general = _QUOTED_VALUE.sub(" ", analysis.text)
        numbers: set[str] | None = None
        for variant in (analysis, analyze(general)) if general != analysis.text else (analysis,):
            for aid, fraction in self._match_keys(_keys(variant)):
                anchor = self.anchors[aid]
                if anchor.numbers:  # "Exit Code: 1" is not "exit code 137"
                    if numbers is None:
                        numbers = set(_NUMBER.findall(analysis.text))
                    if not anchor.numbers <= numbers:
                        if len(anchor.keys) <= 3:
                            continue
                        fraction *= 0.7
                best[aid] = max(best.get(aid, 0.0), fraction)
        return sorted(self._absorb(best).items())

    def _absorb(self, found: dict[int, float]) -> dict[int, float]:
        """The longest log string matched whole absorbs the shorter ones inside it: a pasted line that has a
        sibling's shorter log string inside the longer one of its own cause ("Connection refused" inside
        "upstream connect error ... Connection refused") counts once, for the longer one."""
        if len(found) < 2:
            return found
        whole = [aid for aid, fraction in found.items() if fraction >= 0.9 and len(self.anchors[aid].keys) >= 2]
        out = dict(found)
        for aid in found:
            anchor = self.anchors[aid]
            for other in whole:
                longer = self.anchors[other]
                if (
                    other != aid
                    and len(longer.keys) > len(anchor.keys)
                    and _contains(longer.keys, anchor.keys)
                    and not all(_within(owner, longer) for owner in anchor.owners)
                ):
                    del out[aid]
                    break
        return out

    def _match_keys(self, keys: tuple[str, ...]) -> list[tuple[int, float]]:
        found: list[tuple[int, float]] = []
        seen: set[int] = set()
        for k in dict.fromkeys(keys):
            for aid in self.by_unigram.get(k, ()):
                if aid not in seen:
                    seen.add(aid)
                    found.append((aid, 1.0))
        hits: dict[int, int] = {}
        for bigram in dict.fromkeys(pairwise(keys)):
            for aid in self.by_bigram.get(bigram, ()):
                hits[aid] = hits.get(aid, 0) + 1
        for aid, count in hits.items():
            anchor = self.anchors[aid]
            total = len(anchor.bigrams)
            if count == total:
                found.append((aid, 1.0 if _contains(keys, anchor.keys) else 0.9))
            elif len(anchor.keys) >= 4 and count >= 2 and count / total >= 0.5:
                found.append((aid, count / total))
        return found


def _observed_keys(features: _Features) -> frozenset[str]:
    """The keys a message observed (not guessed), and "#anchor" for the log strings it observed."""
    said = {key for key, _, _, guess in features.mentions if not guess}
    said.update(f"#{aid}" for aid, _, _, seen in features.anchors if seen)
    return frozenset(said)


def _within(owner: tuple[int, int], longer: _Anchor) -> bool:
    """Does a shorter log string's `owner` point where the longer one does (its own place, or its error's name or
    symptoms)? Then the shorter is the same evidence, kept; otherwise it would speak for a sibling."""
    return owner in longer.owners or (owner[1] < 0 and any(d == owner[0] for d, _ in longer.owners))


def _contains(seq: tuple[str, ...], sub: tuple[str, ...]) -> bool:
    n = len(sub)
    return any(seq[i : i + n] == sub for i in range(len(seq) - n + 1))


# --------------------------------------------------------------------------------------------- session

# Where a message sits in a conversation: (time, key). Messages are ordered by time, then by their key; the
# engine only ever compares positions, so any time scale works (epoch seconds, or a counter for plain lists).
Pos = tuple[float, str]
# A negation scope: (the message it is in, its index there; _ANSWER for "no" answering a question).
Sid = tuple[Pos, int]
_ANSWER = 1 << 30
# Past decisions of a workspace: (runbook title, error name, root cause name) -> (times accepted, times dismissed).
Learned = Mapping[tuple[str, str, str], tuple[int, int]]
# A mention of a key: (message, token, weight).
_At = tuple[Pos, int, float]


@dataclass(slots=True)
class _Mentions:
    count: float = 0.0  # sum of the weights of the mentions
    observed: float = 0.0  # ... of those not in a question, a guess or the title
    n: int = 0  # how many (the count is reset to exactly 0 when none is left)
    at: list[_At] = field(default_factory=list)  # sorted by (message, token)
    epoch: int = 0  # changes whenever `at` changes other than by a mention after all the others


@dataclass(slots=True)
class _Negation:
    at: tuple[Pos, int]  # (message, token)
    scope: Sid


@dataclass(slots=True)
class _ScopeRef:
    message: Pos
    terms: frozenset[str]
    text: str
    cue: str = ""


@dataclass(slots=True)
class _Scored:
    doc: _Doc
    error_score: float  # terms, with negation applied
    anchor_score: float
    anchors: list[tuple[float, int, Pos, float]]  # (strength, anchor, message, fraction), best first
    term_parts: dict[str, float]  # key -> contribution at error level
    against: list[tuple[Sid, str]]  # (scope, term) that counted against the error
    causes: list[float] = field(default_factory=list)  # root-cause evidence of each cause
    best_cause: float = 0.0
    cause_parts: list[dict[str, float]] = field(default_factory=list)
    cause_against: list[list[Sid]] = field(default_factory=list)  # scope ids

    @property
    def base(self) -> float:
        return self.error_score + W_ANCHOR * self.anchor_score

    def raw(self, ci: int) -> float:
        """Evidence for the triple: the error's, plus this cause's own, less how far it is behind its best
        sibling (a ruled-out or unsupported sibling ranks well below the cause that the evidence points to)."""
        best = self.best_cause
        mine = self.causes[ci]
        return self.base + W_CAUSE * mine - W_BEHIND * (best - mine)

    def score(self, ci: int, beta: float) -> float:
        """Confidence: P(error) from all its evidence (with its best cause), times how this cause compares with
        that best sibling (1 for the best, e^-CAUSE_GAP per unit of root-cause evidence behind it)."""
        p_error = _sigmoid(ALPHA * (self.base + W_CAUSE * self.best_cause - beta))
        return p_error * math.exp(-CAUSE_GAP * (self.best_cause - self.causes[ci]))


_AFFIRM, _CAUSE, _ERROR, _NONE = 0, 1, 2, 3
_SAME = 1e-9  # evidence values closer than this are equal (sums kept incrementally differ in the last bits)


@dataclass(slots=True)
class _Features:
    """What one message contributes, computed from its text alone (again when it is retracted: the same text
    gives the same features)."""

    analysis: Analysis
    mentions: list[tuple[str, int, float, bool]]  # (key, token, weight, a guess), keys some runbook section has
    negations: list[tuple[str, int, int]]  # (term, token, scope index) of ruled-out terms
    anchors: list[tuple[int, float, float, bool]]  # (anchor, fraction, strength, observed: not a guess)


class Session:
    """One conversation's evidence, kept up to date message by message.

    A message is added, replaced (an edit) or retracted (a deletion) in time proportional to its own length:
    what it contributed is kept per message and per term (mention lists, negation scopes, log-string hits, the
    candidate accumulators), so a retraction takes back exactly what the message added. Ranking reads this state;
    its cost depends on the runbooks and on the evidence near the end of the conversation, not on its length.
    The ranking of a session is the ranking of a fresh session fed its live messages in order (a property test
    holds the two equal), so a session can always be rebuilt from the stored messages.

        session.add(text)                               # the next message of a plain list
        session.put("C1/1712345678.000100", text, at=1712345678.0001, version=3)   # new or edited (newer wins)
        session.remove("C1/1712345678.000100", version=4)                           # deleted
    """

    def __init__(self, engine: SuggestionEngine) -> None:
        self._engine = engine
        self._index = engine._index
        self._order: list[Pos] = []  # live messages, oldest first
        self._text: dict[Pos, str] = {}
        self._where: dict[str, Pos] = {}  # key -> position of its live text
        self._version: dict[str, int] = {}  # key -> version applied
        self._deleted: set[str] = set()
        self._hypotheses: set[Pos] = set()  # messages that are guesses (the title)
        self._not_a_fault: set[Pos] = set()  # messages that say this is not a fault (planned, drill, false alarm)
        # recent message -> the keys it observed (not guessed), "#anchor" for log strings: see _recent_support
        self._said_keys: dict[Pos, frozenset[str]] = {}
        self._mentions: dict[str, _Mentions] = {}
        self._negations: dict[str, list[_Negation]] = {}  # term -> ruled-out mentions, sorted by position
        self._scopes: dict[Sid, _ScopeRef] = {}
        self._answers: dict[Pos, tuple[Sid, frozenset[str]]] = {}  # "no" answering a question, by answer
        self._hits: dict[int, dict[Pos, tuple[float, float]]] = {}  # anchor -> message -> (fraction, strength)
        self._anchor_best: dict[int, tuple[float, Pos, float]] = {}  # anchor -> (fraction, message, strength)
        self._observed_hits: dict[int, set[Pos]] = {}  # anchor -> messages that said it as an observation
        self._acc: dict[int, float] = {}  # doc -> evidence of its selective terms (nominates candidates)
        self._doc_anchors: dict[int, set[int]] = {}  # doc -> anchors of it that were matched
        self._broad: set[str] = set()  # mentioned keys too common to nominate candidates
        self._counter = 0
        self._learned: Learned = {}
        # Ranking looks for the latest ruling-out of a term that bears on an error (or a cause), and for what was
        # said after it. Conversations grow at the end, so each answer is kept with how far the list was read:
        # the next ranking reads only what came since, unless the list changed elsewhere (a new epoch).
        self._epoch = 0
        self._neg_epoch: dict[str, int] = {}  # term -> epoch of its negation list
        self._latest: dict[tuple[Any, ...], tuple[int, int, _Negation | None]] = {}
        self._said_after: dict[tuple[Pos, int], dict[str, tuple[int, int, float]]] = {}  # negation -> key -> sum
        self._classes: dict[Sid, tuple[_ScopeRef, dict[int, int]]] = {}  # scope -> doc -> how it bears on the error

    @property
    def messages(self) -> tuple[str, ...]:
        """What is said now, oldest first."""
        return tuple(self._text[p] for p in self._order)

    def __len__(self) -> int:
        return len(self._order)

    @property
    def keys_held(self) -> int:
        """Every key this session knows of, deleted and empty ones included (what its memory grows with)."""
        return len(self._version)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def version(self, key: str) -> int | None:
        """The version of `key` this session holds (also for a deleted one), or None if it never saw it."""
        return self._version.get(key)

    # -- adding and retracting -------------------------------------------------------------------------------

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def add(self, message: str) -> None:
        """The next message of a conversation given as a plain list."""
        self._counter += 1
        key = f"#{self._counter:012d}"
        self.put(key, message, at=float(self._counter))

    def put(self, key: str, text: str, *, at: float, version: int = 0, hypothesis: bool = False) -> bool:
        """Add a message, or replace its text (an edit): a version older than the one held is ignored, and so is
        anything for a deleted key (a deletion is final, as in Slack). Returns True when the evidence changed.

        A `hypothesis` (the incident's title) counts as a guess, not as something observed: its words and log
        strings weigh what a hedged clause's do."""
        held = self._version.get(key)
        if key in self._deleted or (held is not None and version < held):
            return False
        self._version[key] = version
        pos: Pos = (at, key)
        old = self._where.get(key)
        if old is not None:
            if old == pos and self._text[old] == text:
                return False
            self._retract(old)
            del self._where[key]
        if not text.strip():  # a file without a comment, a post of blocks only: nothing said (not even a turn)
            return old is not None
        self._where[key] = pos
        if hypothesis:
            self._hypotheses.add(pos)
        else:
            self._hypotheses.discard(pos)
        self._insert(pos, text)
        return True

    def remove(self, key: str, *, version: int = 0) -> bool:
        """Retract a message (deleted, for good): what it said no longer counts. Returns True when the evidence
        changed."""
        self._deleted.add(key)
        self._version[key] = max(version, self._version.get(key, version))
        pos = self._where.pop(key, None)
        if pos is None:
            return False
        self._retract(pos)
        return True

    def _features(self, text: str, hypothesis: bool = False) -> _Features:
        index = self._index
        damp = HYPOTHESIS if hypothesis else 1.0
        vocabulary = index.vocabulary
        analysis = analyze(text)
        mentions: list[tuple[str, int, float, bool]] = []
        negations: list[tuple[str, int, int]] = []
        tokens = analysis.tokens
        for ti, token in enumerate(tokens):
            w = token.weight * damp * (LOG_PROSE if token.log else 1.0)
            guess = hypothesis or token.weight < 1.0
            if token.key in vocabulary:
                mentions.append((token.key, ti, w, guess))
            if ti + 1 < len(tokens) and tokens[ti + 1].clause == token.clause:
                pair = _pair(token, tokens[ti + 1])
                if pair in vocabulary:
                    weight = BIGRAM_WEIGHT * min(w, tokens[ti + 1].weight * damp)
                    mentions.append((pair, ti, weight, guess or tokens[ti + 1].weight < 1.0))
            mentions.extend((extra, ti, w, guess) for extra in token.extras if extra in vocabulary)
            if token.negated and not token.ruled_out:
                if token.term in vocabulary:
                    mentions.append((token.term, ti, 0.5 * w, guess))
            elif token.ruled_out:
                negations.append((token.term, ti, token.scope))
        anchors = []
        for aid, fraction in index.match_anchors(analysis):
            # a log string in a question or a guess ("the bgsave fork thing again?") is a hypothesis too
            keys = index.anchors[aid].keys
            hedge = max((t.weight for t in tokens if t.key in keys), default=1.0)
            strength = damp * hedge * index.anchors[aid].quality * fraction * fraction
            anchors.append((aid, fraction, strength, not hypothesis and hedge >= 1.0))
        return _Features(analysis, mentions, negations, anchors)

    def _insert(self, pos: Pos, text: str) -> None:
        order = self._order
        if not order or pos > order[-1]:
            order.append(pos)
        else:
            bisect.insort(order, pos)
        self._text[pos] = text
        if not_a_fault(text):
            self._not_a_fault.add(pos)
        features = self._features(text, pos in self._hypotheses)
        for key, ti, w, guess in features.mentions:
            self._mention(key, (pos, ti, w), +1, guess)
        if pos not in self._hypotheses:
            self._said_keys[pos] = _observed_keys(features)
            if len(self._said_keys) > 2 * RECENT:  # kept for the recent messages only (memory bounded)
                keep = set(self._order[-2 * RECENT :])
                for old in [p for p in self._said_keys if p not in keep]:
                    del self._said_keys[old]
        for term, ti, scope in features.negations:
            sid = (pos, scope)
            if sid not in self._scopes:
                ref = features.analysis.scopes[scope]
                self._scopes[sid] = _ScopeRef(pos, ref.terms, features.analysis.snippet(ref), ref.cue)
            self._negate(term, _Negation((pos, ti), sid))
        for aid, fraction, strength, observed in features.anchors:
            self._hit(aid, pos, fraction, strength)
            if observed:
                self._observed_hits.setdefault(aid, set()).add(pos)
        self._reanswer(pos)

    def _retract(self, pos: Pos) -> None:
        text = self._text[pos]
        features = self._features(text, pos in self._hypotheses)
        self._unanswer(pos)
        for key, ti, w, guess in features.mentions:
            self._mention(key, (pos, ti, w), -1, guess)
        for term, ti, scope in features.negations:
            self._unnegate(term, _Negation((pos, ti), (pos, scope)))
            self._scopes.pop((pos, scope), None)
        for aid, _, _, observed in features.anchors:
            self._unhit(aid, pos)
            if observed:
                seen = self._observed_hits[aid]
                seen.discard(pos)
                if not seen:
                    del self._observed_hits[aid]
        i = bisect.bisect_left(self._order, pos)
        del self._order[i]
        del self._text[pos]
        self._said_keys.pop(pos, None)
        self._hypotheses.discard(pos)
        self._not_a_fault.discard(pos)
        self._reanswer_after(i)

    def _mention(self, key: str, at: _At, sign: int, guess: bool = False) -> None:
        mentions = self._mentions.get(key)
        if mentions is None:
            mentions = self._mentions[key] = _Mentions(epoch=self._next_epoch())
        before = mentions.count
        if not guess:
            mentions.observed += sign * at[2]
        if sign > 0:
            mentions.count += at[2]
            mentions.n += 1
            if not mentions.at or at > mentions.at[-1]:
                mentions.at.append(at)
            else:
                bisect.insort(mentions.at, at)
                mentions.epoch = self._next_epoch()
        else:
            mentions.n -= 1
            mentions.at.remove(at)
            mentions.epoch = self._next_epoch()
            mentions.count = mentions.count - at[2] if mentions.n else 0.0
            if not mentions.n:
                mentions.observed = 0.0
            if not mentions.n:
                del self._mentions[key]
        postings = self._index.postings.get(key)
        if not postings:
            return
        if len(postings) > SELECTIVE_DF:
            if mentions.n:
                self._broad.add(key)
            else:
                self._broad.discard(key)
            return
        delta = _sat(mentions.count) - _sat(before)
        acc = self._acc
        for doc, w in postings:
            value = acc.get(doc, 0.0) + w * delta
            if value > _SAME:
                acc[doc] = value
            else:
                acc.pop(doc, None)

    def _hit(self, aid: int, pos: Pos, fraction: float, strength: float) -> None:
        hits = self._hits.get(aid)
        if hits is None:
            hits = self._hits[aid] = {}
            for d in self._index.anchors[aid].at_error:
                self._doc_anchors.setdefault(d, set()).add(aid)
        hits[pos] = (fraction, strength)
        best = self._anchor_best.get(aid)
        if best is None or strength > best[2] or (strength == best[2] and pos < best[1]):
            self._anchor_best[aid] = (fraction, pos, strength)

    def _unhit(self, aid: int, pos: Pos) -> None:
        hits = self._hits[aid]
        del hits[pos]
        if hits:
            if self._anchor_best[aid][1] == pos:  # the best one went: the strongest left, the earliest of equals
                p, (fraction, strength) = min(hits.items(), key=lambda item: (-item[1][1], item[0]))
                self._anchor_best[aid] = (fraction, p, strength)
            return
        del self._hits[aid]
        del self._anchor_best[aid]
        for d in self._index.anchors[aid].at_error:
            anchors = self._doc_anchors[d]
            anchors.discard(aid)
            if not anchors:
                del self._doc_anchors[d]

    # -- "memory leak?" ... "doesn't look like one" --------------------------------------------------------

    def _reanswer(self, pos: Pos) -> None:
        """A message at `pos` came: it may answer a question, and the next two messages may now answer it."""
        i = bisect.bisect_left(self._order, pos)
        for j in range(i, min(i + 3, len(self._order))):
            self._unanswer(self._order[j])
            self._answer(j)

    def _reanswer_after(self, i: int) -> None:
        """The message that was at index `i` went: the next two messages look back at other questions now."""
        for j in range(i, min(i + 2, len(self._order))):
            self._unanswer(self._order[j])
            self._answer(j)

    def _answer(self, j: int) -> None:
        """What the question one or two messages earlier asked about is ruled out by a "no" at index `j`."""
        pos = self._order[j]
        answer = negative_answer(self._text[pos])
        if answer is None:
            return
        for q in range(j - 1, max(-1, j - 3), -1):
            asked = [t for t in analyze(self._text[self._order[q]]).tokens if t.weight < 1 and not t.negated]
            if not asked:
                continue
            terms = frozenset(t.term for t in asked)
            sid: Sid = (pos, _ANSWER)
            question = " ".join(self._text[self._order[q]].split())
            self._scopes[sid] = _ScopeRef(pos, terms, f"{question} — {answer}")
            for t in terms:
                self._negate(t, _Negation((pos, -1), sid))
            self._answers[pos] = (sid, terms)
            return

    def _unanswer(self, pos: Pos) -> None:
        found = self._answers.pop(pos, None)
        if found is None:
            return
        sid, terms = found
        for t in terms:
            self._unnegate(t, _Negation((pos, -1), sid))
        del self._scopes[sid]

    # -- the latest ruling-out, and what was said since ----------------------------------------------------

    def _next_epoch(self) -> int:
        self._epoch += 1
        return self._epoch

    def _negate(self, term: str, negation: _Negation) -> None:
        negations = self._negations.setdefault(term, [])
        if negations and negation.at < negations[-1].at:
            bisect.insort(negations, negation, key=lambda n: n.at)
            self._neg_epoch[term] = self._next_epoch()
        else:
            negations.append(negation)

    def _unnegate(self, term: str, negation: _Negation) -> None:
        negations = self._negations[term]
        negations.remove(negation)
        if not negations:
            del self._negations[term]
        self._neg_epoch[term] = self._next_epoch()
        self._said_after.pop(negation.at, None)
        self._classes.pop(negation.scope, None)

    def _latest_negation(self, key: tuple[Any, ...], term: str, bears: Callable[[_Negation], bool]) -> _Negation | None:
        """The latest ruling-out of `term` that `bears` on what `key` names (reading only what is new since the
        last time it was asked)."""
        negations = self._negations.get(term)
        if not negations:
            return None
        epoch = self._neg_epoch.get(term, 0)
        start, last = 0, None
        cached = self._latest.get(key)
        if cached is not None and cached[0] == epoch:
            start, last = cached[1], cached[2]
        for i in range(len(negations) - 1, start - 1, -1):
            if bears(negations[i]):
                last = negations[i]
                break
        self._latest[key] = (epoch, len(negations), last)
        return last

    def _after(self, key: str, at: tuple[Pos, int]) -> float:
        """Weight of the mentions of `key` said after `at`."""
        said = self._mentions.get(key)
        if said is None:
            return 0.0
        mentions = said.at
        cache = self._said_after.setdefault(at, {})
        cached = cache.get(key)
        if cached is not None and cached[0] == said.epoch:
            total = cached[2]
            for pos, token, weight in mentions[cached[1] :]:
                if (pos, token) > at:
                    total += weight
        else:
            total = 0.0
            for pos, token, weight in reversed(mentions):
                if (pos, token) <= at:
                    break
                total += weight
        cache[key] = (said.epoch, len(mentions), total)
        return total

    def _class(self, doc: _Doc, sid: Sid) -> int:
        scope = self._scopes[sid]
        known = self._classes.get(sid)
        if known is None or known[0] is not scope:  # (an edited message has new scopes at the same place)
            known = self._classes[sid] = (scope, {})
        cls = known[1].get(doc.index)
        if cls is None:
            cls = known[1][doc.index] = self._classify(doc, sid)
        return cls

    # -- ranking -------------------------------------------------------------------------------------------

    def suggest(self, top: int = 3, learned: Learned | None = None) -> list[Suggestion]:
        """The best root causes whose confidence reaches the engine's threshold, best first."""
        return self._ranked(top, self._engine.threshold, learned)

    def rank(self, top: int = 3, learned: Learned | None = None, explain: int | None = None) -> list[Suggestion]:
        """The best root causes with any evidence, best first, whatever their confidence.

        `learned`: what people of this workspace decided about root causes before, (runbook title, error name,
        root cause name) -> (times accepted, times dismissed). Each shifts that root cause's own evidence by
        LEARN x (accepted - dismissed) / (accepted + dismissed + 1), under one unit either way, and says so.
        `explain`: how many of the best get their evidence and alternatives written out (default: all); the rest
        have every figure but empty `evidence` and `alternatives` (the costly part of a ranking)."""
        return self._ranked(top, None, learned, explain)

    def _ranked(
        self, top: int, threshold: float | None, learned: Learned | None = None, explain: int | None = None
    ) -> list[Suggestion]:
        self._learned = learned or {}
        if top <= 0 or not self._order:
            return []
        scored = self._score_errors()
        beta = self._engine._beta
        triples: list[tuple[float, float, str, int, int, int, int]] = []
        for si, s in enumerate(scored):
            for ci, cause in enumerate(s.doc.error.root_causes):
                raw, score = s.raw(ci), s.score(ci, beta)
                if raw > 0 and (threshold is None or score >= threshold):
                    key = (-round(raw, 9), -round(score, 9), s.doc.runbook.path, s.doc.position, cause.number)
                    triples.append((*key, si, ci))
        triples.sort()
        explained = top if explain is None else explain
        return [
            self._suggestion(scored[si], ci, scored, explain=n < explained)
            for n, (*_, si, ci) in enumerate(triples[:top])
        ]

    def _candidates(self) -> list[int]:
        """The docs with the most selective-term evidence, and every doc a log string of it was matched for."""
        best = heapq.nlargest(2 * CANDIDATES, ((round(v, 9), -d) for d, v in self._acc.items()))
        docs = {-nd for _, nd in best}
        docs.update(self._doc_anchors)
        return sorted(docs)

    def _classify(self, doc: _Doc, sid: Sid) -> int:
        """How a ruled-out scope bears on an error: not at all, on one of its causes, or on the error."""
        terms = self._scopes[sid].terms
        if any(NEGATED + t in doc.affirm for t in terms):
            return _AFFIRM  # the error's own symptoms say it negatively: it describes the fault
        if not terms.isdisjoint(doc.distinct_any):
            return _CAUSE
        if not terms.isdisjoint(doc.weights.keys()):
            return _ERROR
        return _NONE

    def _score_errors(self) -> list[_Scored]:
        index = self._index
        mentions = self._mentions
        results: list[_Scored] = []
        for d in self._candidates():
            doc = index.docs[d]
            weights = doc.weights
            # Summed afresh, in key order: the accumulators (kept message by message, in arrival order) differ from
            # this in the last bits, and a ranking must not depend on the order things were said or retracted in.
            # (Counts are sums of 1, 1/2 and 1/4: exact in any order.)
            score = 0.0
            for key in sorted(weights.keys() & mentions.keys()):
                score += weights[key] * _sat(mentions[key].count)
            against: list[tuple[Sid, str]] = []
            parts: dict[str, float] = {}
            for term in sorted(weights.keys() & self._negations.keys()):
                last = self._latest_negation((d, term), term, partial(self._against_error, doc))
                if last is None:
                    continue
                w = weights[term]
                said = mentions.get(term)
                total = said.count if said else 0.0
                after = self._after(term, last.at)
                score -= w * (_sat(total) - _sat(after))  # a later ruling-out cancels what was said before
                if after == 0:
                    score -= NEG_ERROR * w
                    against.append((last.scope, term))
                    parts[term] = -NEG_ERROR * w
            best = self._anchor_best
            anchors = sorted(
                (
                    (
                        best[aid][2] * (1.0 if index.anchors[aid].at_error[d] else CAUSE_ANCHOR_AT_ERROR),
                        aid,
                        best[aid][1],
                        best[aid][0],
                    )
                    for aid in self._doc_anchors.get(d, ())
                ),
                key=lambda a: (-a[0], a[1]),
            )
            unique: dict[str, tuple[float, int, Pos, float]] = {}  # a name matched whole and without "Error": once
            for a in anchors:
                unique.setdefault(index.anchors[a[1]].text, a)
            anchors = list(unique.values())
            anchor_score = sum(a[0] * 0.5**i for i, a in enumerate(anchors))
            results.append(_Scored(doc, score, anchor_score, anchors, parts, against))
        results.sort(key=lambda s: (-round(s.base, 9), s.doc.index))
        floor = results[0].base * CAUSE_CANDIDATE_SHARE - _SAME if results else 0.0
        chosen = [s for s in results[:CAUSE_CANDIDATES] if s.base >= floor]
        for s in chosen:
            self._score_causes(s)
        return chosen

    def _score_causes(self, s: _Scored) -> None:
        doc = s.doc
        mentions, negations = self._mentions, self._negations
        for ci, cause in enumerate(doc.causes):
            parts: dict[str, float] = {}
            against: list[Sid] = []
            covered: set[str] = set()  # words of a log string that matched: the log string counts for them
            for aid, distinct in sorted(cause.anchors.items()):
                hit = self._anchor_best.get(aid)
                if hit is not None and distinct > 0:
                    parts[f"#{aid}"] = min(TERM_CAP, W_ANCHOR * hit[2] * distinct)
                    keys = self._index.anchors[aid].keys
                    covered.update(keys)
                    covered.update(f"{a} {b}" for a, b in pairwise(keys))
            weights = cause.weights
            said_keys = weights.keys() & mentions.keys()
            if negations:
                said_keys |= weights.keys() & negations.keys()
            for key in sorted(said_keys):
                w = weights[key]
                said = mentions.get(key)
                # what tells sibling causes apart must be observed: a guess ("probably traffic again?") counts
                # towards the error (half), never towards one of its root causes
                count = said.observed if said else 0.0
                if key in negations:
                    last = self._latest_negation((doc.index, ci, key), key, partial(self._bears, doc, cause))
                    if last is not None:
                        count = self._after(key, last.at)
                        if count == 0:
                            parts[key] = -NEG_CAUSE * w
                            against.append(last.scope)
                            continue
                if count and key not in covered:
                    # one word counts at most TERM_CAP in all (its error-level weight plus this)
                    room = max(0.0, TERM_CAP - doc.weights.get(key, 0.0) * _sat(count)) / W_CAUSE
                    parts[key] = min(w * _sat(count), room)
            decided = self._learned.get((doc.runbook.title, doc.error.name, cause.cause.name))
            if decided is not None and any(decided) and parts:  # only for a cause something was said for
                accepted, dismissed = decided
                parts[LEARNED] = LEARN * (accepted - dismissed) / (accepted + dismissed + 1)
            s.causes.append(sum(parts.values()))
            s.cause_parts.append(parts)
            s.cause_against.append(sorted(set(against)))
        s.best_cause = max(s.causes, default=0.0)

    # -- explaining ----------------------------------------------------------------------------------------

    def _against_error(self, doc: _Doc, negation: _Negation) -> bool:
        if self._scopes[negation.scope].cue in MEASURED_NOTHING:
            return False  # "lag is 0": a measurement bears on causes; said of the error's symptom, it recovered
        return self._class(doc, negation.scope) == _ERROR

    def _bears(self, doc: _Doc, cause: _Cause, negation: _Negation) -> bool:
        """Does a ruling-out count against this cause? Not when it is not about its error, or when the cause says
        the same thing negatively ("traffic is normal")."""
        if self._class(doc, negation.scope) not in (_CAUSE, _ERROR):
            return False
        return not any(NEGATED + t in cause.neg_keys for t in self._scopes[negation.scope].terms)

    def _excerpt(self, message: Pos, start: int = 0) -> str:
        text = " ".join(self._text[message].split())
        if len(text) <= EXCERPT:
            return text
        begin = max(0, min(start - 30, len(text) - EXCERPT))
        cut = text[begin : begin + EXCERPT].strip()
        return ("…" if begin else "") + cut + ("…" if begin + EXCERPT < len(text) else "")

    def _surface(self, key: str) -> tuple[Pos, str, int]:
        """(message, words as written, offset) of the latest mention of a key."""
        mentions = self._mentions[key]
        message, token, _ = mentions.at[-1]
        analysis = analyze(self._text[message])
        tok = analysis.tokens[token]
        if tok.negated and key.startswith(NEGATED):  # said negatively: quote the negation ("traffic is flat")
            surface = analysis.snippet(analysis.scopes[tok.scope])
        elif " " in key:  # a pair: the words as written, from the first to the second
            surface = " ".join(analysis.text[tok.start : analysis.tokens[token + 1].end].split())
        else:
            surface = tok.surface
        return message, surface, tok.start

    def _suggestion(self, s: _Scored, ci: int, scored: list[_Scored], explain: bool = True) -> Suggestion:
        doc, cause = s.doc, s.doc.error.root_causes[ci]
        error_keys = {f"#{aid}" for _, aid, _, _ in s.anchors}
        cause_keys = {k for k, v in s.cause_parts[ci].items() if v > 0}
        window, error_messages, cause_messages = self._recent_support(doc.weights.keys(), error_keys, cause_keys)
        return Suggestion(
            runbook=doc.runbook,
            error=doc.error,
            cause=cause,
            score=s.score(ci, self._engine._beta),
            citation=citation(doc.runbook, doc.error, cause),
            evidence=tuple(self._evidence(s, ci)) if explain else (),
            alternatives=tuple(self._alternatives(s, ci, scored)) if explain else (),
            refuted=tuple(self._refuted(s, ci)),
            error_evidence=s.base,
            cause_evidence=s.causes[ci],
            sibling_gap=s.causes[ci] - max((c for j, c in enumerate(s.causes) if j != ci), default=0.0),
            cause_messages=cause_messages,
            error_messages=error_messages,
            rival_gap=s.base + s.best_cause - max((o.base + o.best_cause for o in scored if o is not s), default=0.0),
            not_a_fault=len(self._not_a_fault),
            support_share=error_messages / max(1, window),
            anchored=any(
                fraction >= 0.9 and aid in self._observed_hits and self._index.anchors[aid].at_error.get(doc.index)
                for _, aid, _, fraction in s.anchors
            ),
        )

    def _recent_support(self, words: Collection[str], anchors: set[str], cause: set[str]) -> tuple[int, int, int]:
        """Among the last RECENT messages (the title not counted): how many there are, how many observed (not
        guessed) something of the error (its words or matched log strings), and something of the root cause.
        Bounded work, whatever the length of the incident."""
        window = error = for_cause = 0
        for pos in reversed(self._order):
            if window >= RECENT:
                break
            if pos in self._hypotheses:
                continue
            window += 1
            said = self._said_keys.get(pos)
            if said is None:  # (dropped while older messages were the recent ones: read again, once)
                said = self._said_keys[pos] = _observed_keys(self._features(self._text[pos]))
            if not said:
                continue
            if not said.isdisjoint(anchors) or not said.isdisjoint(words):
                error += 1
            if not said.isdisjoint(cause):
                for_cause += 1
        return window, error, for_cause

    def _refuted(self, s: _Scored, ci: int) -> list[str]:
        """The rulings-out of this root cause in particular (its own distinctive words, not its error's symptoms:
        "crash rate normal by 09:00" after a fix says it recovered) that no later mention took back, latest first."""
        return list(
            dict.fromkeys(
                self._scopes[sid].text
                for sid in sorted(s.cause_against[ci], reverse=True)
                if self._class(s.doc, sid) == _CAUSE
            )
        )

    def _evidence(self, s: _Scored, ci: int) -> list[str]:
        """What was said that supports this triple, strongest first: log strings and names, then words."""
        doc, cause = s.doc, s.doc.error.root_causes[ci]
        items: list[tuple[float, Pos, str]] = []
        anchored: set[Pos] = set()
        for strength, aid, message, fraction in s.anchors:
            anchor = self._index.anchors[aid]
            kind = "error name" if any(dd == doc.index and o == -2 for dd, o in anchor.owners) else "log string"
            if fraction < 0.9:
                kind += f", {fraction:.0%} of it"
            anchored.add(message)
            items.append((W_ANCHOR * strength, message, f'"{anchor.text}" ({kind}) in: "{self._excerpt(message)}"'))
        # words: error-level weight plus this cause's own weight, grouped by the message they were last said in
        weight: dict[str, float] = {}
        specific: set[str] = set()
        for key in sorted(doc.weights.keys() & self._mentions.keys()):
            weight[key] = doc.weights[key] * _sat(self._mentions[key].count)
        weight.update({k: v for k, v in s.term_parts.items() if k in weight})
        for key, value in s.cause_parts[ci].items():
            if key in self._mentions and value > 0:
                weight[key] = weight.get(key, 0.0) + W_CAUSE * value
                specific.add(key)
        groups: dict[tuple[Pos, bool], list[tuple[float, str, int]]] = {}
        strongest = heapq.nsmallest(EVIDENCE_TERMS, ((-v, k) for k, v in weight.items() if v > 0.1))
        for minus, key in strongest:
            value = -minus
            message, surface, offset = self._surface(key)
            is_specific = key in specific
            if message in anchored and not is_specific:
                continue  # that message is already quoted for its log string
            groups.setdefault((message, is_specific), []).append((value, surface, offset))
        for (message, is_specific), terms in groups.items():
            terms.sort(key=lambda t: (-t[0], t[1]))
            words = _phrases([t[1] for t in terms])[:5]
            label = f"points to {cause.name}" if is_specific else f"matches {doc.error.name}"
            excerpt = self._excerpt(message, terms[0][2])
            items.append((sum(t[0] for t in terms), message, f'{", ".join(words)} ({label}) in: "{excerpt}"'))
        items.sort(key=lambda item: (-item[0], item[1], item[2]))
        evidence = [text for _, _, text in items[:EVIDENCE_LINES]]
        for sid in dict.fromkeys(sid for sid, _ in s.against):
            evidence.append(f'against {doc.error.name}: "{self._scopes[sid].text}"')
        for sid in s.cause_against[ci]:
            evidence.append(f'against {cause.name}: "{self._scopes[sid].text}"')
        shift = s.cause_parts[ci].get(LEARNED)
        if shift is not None:
            accepted, dismissed = self._learned[(doc.runbook.title, doc.error.name, cause.name)]
            evidence.append(
                f"learned in this workspace: accepted {_times(accepted)}, dismissed {_times(dismissed)} in earlier "
                f"incidents ({shift:+.2f})"
            )
        return evidence

    def _alternatives(self, s: _Scored, ci: int, scored: list[_Scored]) -> list[str]:
        """Why each sibling root cause ranked lower (or higher), and the best other error."""
        out: list[str] = []
        mine = s.causes[ci]
        for j in sorted(range(len(s.causes)), key=lambda j: (-s.causes[j], j)):
            if j == ci:
                continue
            name = s.doc.error.root_causes[j].name
            score = s.score(j, self._engine._beta)
            if s.cause_against[j]:
                out.append(f"{name}: ruled out ('{self._scopes[s.cause_against[j][0]].text}')")
            elif s.causes[j] > mine or (s.causes[j] == mine and j < ci):
                out.append(f"{name}: ranked higher ({score:.2f})")
            elif any(v > 0 for v in s.cause_parts[j].values()):
                keys = [
                    k
                    for k, v in sorted(s.cause_parts[j].items(), key=lambda kv: (-kv[1], kv[0]))
                    if v > 0 and k in self._mentions
                ]
                words = ", ".join(_phrases([self._surface(k)[1] for k in keys])[:3]) or "a log string"
                out.append(f"{name}: weaker evidence ({words}; {score:.2f})")
            else:
                out.append(f"{name}: no evidence mentioned")
        others = [o for o in scored if o.doc.index != s.doc.index and o.causes]
        if others:
            beta = self._engine._beta
            best = min(others, key=lambda o: (-max(o.raw(j) for j in range(len(o.causes))), o.doc.index))
            j = min(range(len(best.causes)), key=lambda j: (-best.raw(j), j))
            if best.raw(j) > 0:
                out.append(
                    f"{best.doc.error.name} ({best.doc.runbook.title}): fewer matching signs "
                    f"({best.doc.error.root_causes[j].name}, {best.score(j, beta):.2f})"
                )
        return out


def _times(n: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n} times")


def _phrases(surfaces: list[str]) -> list[str]:
    """Distinct phrases, leaving out a word already inside a longer phrase shown."""
    unique = list(dict.fromkeys(surfaces))
    kept: list[str] = []
    for phrase in unique:
        lower = phrase.lower()
        if any(lower != other.lower() and lower in other.lower() for other in unique):
            continue
        kept.append(phrase)
    return kept


# ---------------------------------------------------------------------------------------------- engine


class SuggestionEngine:
    """Indexes runbooks once; ranks root causes for conversations."""

    def __init__(self, runbooks: Iterable[Runbook], threshold: float = THRESHOLD) -> None:
        ordered = sorted(runbooks, key=lambda r: (r.path, r.heading, r.title))
        self.runbooks: tuple[Runbook, ...] = tuple(ordered)
        self.threshold = threshold
        self._beta = BETA
        self._index = _Index(ordered)
        self._sessions: list[Session] = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Number of error sections indexed."""
        return len(self._index.docs)

    def session(self) -> Session:
        """A conversation to feed message by message: `add(text)`, then `suggest()` / `rank()`."""
        return Session(self)

    def forget(self) -> None:
        """Drop the conversations kept to make re-ranking a growing conversation cheap."""
        with self._lock:
            self._sessions.clear()

    def suggest(self, messages: Sequence[str], top: int = 3) -> list[Suggestion]:
        """The best root causes for a conversation (oldest message first) that reach `threshold`, best first."""
        with self._lock:
            return self._session_for(messages).suggest(top)

    def rank(self, messages: Sequence[str], top: int = 3) -> list[Suggestion]:
        """The best root causes for a conversation, best first, whatever their confidence."""
        with self._lock:
            return self._session_for(messages).rank(top)

    def _session_for(self, messages: Sequence[str]) -> Session:
        """Re-ranking a conversation that grew by a message reuses the work done for the rest of it."""
        messages = list(messages)
        best: Session | None = None
        for session in self._sessions:
            n = len(session)
            if n <= len(messages) and (best is None or n > len(best)) and messages[:n] == list(session.messages):
                best = session
        if best is None:
            best = Session(self)
        else:
            self._sessions.remove(best)
        best.extend(messages[len(best) :])
        self._sessions.append(best)
        if len(self._sessions) > 32:
            del self._sessions[0]
        return best


# --------------------------------------------------------------------------------------------- library


class RunbookLibrary:
    """The runbooks folder, loaded with the parser; reloaded when a file is added, removed or changed.

    The folder is looked at no more than once every `check_interval` seconds (one stat per file)."""

    def __init__(
        self,
        directory: Path,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked: float | None = None
        self._engine: SuggestionEngine | None = None
        self._problems: tuple[Problem, ...] = ()
        self.loads = 0

    @property
    def problems(self) -> tuple[Problem, ...]:
        self.engine()
        return self._problems

    def engine(self) -> SuggestionEngine:
        with self._lock:
            now = self._clock()
            if self._engine is None or self._checked is None or now - self._checked >= self.check_interval:
                self._checked = now
                signature = self._scan()
                if self._engine is None or signature != self._signature:
                    self._load(signature)
            assert self._engine is not None
            return self._engine

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        found: list[tuple[str, int, int]] = []
        if not self.directory.is_dir():
            return ()
        for root, dirs, files in os.walk(self.directory):
            dirs.sort()
            for name in files:
                if not name.lower().endswith(".md"):
                    continue
                path = os.path.join(root, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                found.append((os.path.relpath(path, self.directory), st.st_mtime_ns, st.st_size))
        return tuple(sorted(found))

    def _load(self, signature: tuple[tuple[str, int, int], ...]) -> None:
        from .parser import load_runbooks

        try:
            runbooks, problems = load_runbooks(self.directory)
        except FileNotFoundError as e:
            runbooks, problems = [], [Problem(str(self.directory), 0, str(e))]
        self._engine = SuggestionEngine(runbooks)
        self._problems = tuple(problems)
        self._signature = signature
        self.loads += 1
