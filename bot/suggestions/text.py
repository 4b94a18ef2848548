"""Text analysis for the root-cause engine: tokens, light stemming, incident-chat synonyms and negation.

One analyzer is used for both sides, runbooks and chat, so that whatever it does to a phrase it does on both
sides: "Connection is not available" in a runbook and the same line pasted in chat give the same terms.

    analyze("no sign of zombie connections or maintenance")
      -> terms: zombi, connect, maintenanc, all negated, in one scope ("no sign of zombie connections or
         maintenance") that the engine reads as ruled-out evidence.

A term is a canonical stem: "exhausted", "exhaustion" and "exhausting" are all `exhaust`; "spikes", "surge" and
"burst" are all `spik`; "500s" and "internal server error" are `5xx`. A negated term is matched as its own key
(`NEGATED + term`), so a runbook that says "traffic is normal" (for the cause where it is) matches chat that says
"traffic looks normal", while the chat's negation counts against causes whose text says "traffic" positively.

Pure functions, no state, deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

import snowballstemmer  # type: ignore[import-untyped]

__all__ = [
    "NEGATED",
    "Analysis",
    "Scope",
    "Token",
    "analyze",
    "canonical",
    "generic_weight",
    "is_stopword",
    "negative_answer",
    "not_a_fault",
    "stem",
]

NEGATED = "¬"  # prefix of a negated term's key

# ---------------------------------------------------------------------------------------------- vocabulary


def _split(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _split(
        """
        a an the and or but if then than so as of in on at to for from by with into onto over under about above
        below between through during before after again further once here there when where why how all any both
        each few more most other some such only own same too very just also even still already is are was were
        be been being am do does did doing done has have had having can could will would shall should may might
        must i me my we us our you your he him his she her it its they them their this that these those what
        which who whom whose im ive id its lets out up off via per vs etc eg ie ok okay yes yeah yep hey hi
        hello thanks thank pls please like get got gets getting see seeing seen saw look looks looked looking
        seem seems seemed appear appears think thought know knew guess maybe probably perhaps actually basically
        literally really just anyone someone everyone anything something everything nobody somebody thing things
        stuff lot lots bit now though tho although anyway no not nt never none nothing without nor neither
        nobody nope nah one two three every keep keeps kept let make made go goes went going gone come came say
        says said tell told ask asked want need needs fyi afaik imo tbh btw lol ugh hmm ah oh wait well right
        sure cool great nice ack until unless while since because whereas however yet except instead whether
        """
    )
)

# Words that every incident channel uses: they count, but little (a quarter of their corpus weight).
GENERIC = frozenset(
    _split(
        """
        error errors issue issues problem problems service services user users customer customers request
        requests response responses alert alerts alerting page paged pager prod production server servers app
        apps application applications system systems team teams check checked checking happen happened happening
        start started starting time times minute minutes hour hours second seconds incident incidents impact fix
        fixed fixing investigate investigating help call calls work works working worked fail fails failed
        failing failure failures broken break breaks down high low increase increased rate rates number new old
        log logs metric metrics graph dashboard normal usual show shows showed shown use used using run runs
        running ran api endpoint endpoints report reported reports affected affect still recent recently
        """
    )
)

# Whole words (lower case) that mean the same thing in incident chat -> the word whose stem is the term.
_WORD_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "spike",
        (
            "spike",
            "spikes",
            "spiked",
            "spiking",
            "spiky",
            "surge",
            "surges",
            "surged",
            "surging",
            "burst",
            "bursts",
            "jump",
            "jumps",
            "jumped",
            "jumping",
            "influx",
        ),
    ),
    ("5xx", ("5xx", "5xxs", "500", "500s", "5oo")),
    ("4xx", ("4xx", "4xxs")),
    ("oom", ("oom", "ooms", "oomkilled", "oomkill", "oomkiller", "oomed", "oomkills")),
    ("certificate", ("cert", "certs", "certificate", "certificates")),
    ("kubernetes", ("k8s", "kubernetes", "kube")),
    ("database", ("db", "dbs", "database", "databases")),
    ("connection", ("conn", "conns", "connection", "connections", "connect", "connects", "connected", "connecting")),
    ("postgres", ("pg", "postgres", "postgresql", "pgsql")),
    ("timeout", ("timeout", "timeouts", "timedout")),
    (
        "deploy",
        (
            "deploy",
            "deploys",
            "deployed",
            "deploying",
            "deployment",
            "deployments",
            "rollout",
            "rollouts",
            "redeploy",
            "redeployed",
        ),
    ),
    ("config", ("config", "configs", "configuration", "configurations", "configured", "configure", "cfg")),
    ("memory", ("mem", "memory", "ram")),
    ("tls", ("tls", "ssl")),
    ("lb", ("lb", "lbs", "elb", "alb", "loadbalancer", "loadbalancers")),
    (
        "restart",
        (
            "restart",
            "restarts",
            "restarted",
            "restarting",
            "reboot",
            "reboots",
            "rebooted",
            "rebooting",
            "bounce",
            "bounced",
        ),
    ),
    ("auth", ("auth", "authn", "authentication")),
    ("credential", ("creds", "credential", "credentials")),
    ("gc", ("gc", "gcs")),
    ("environment", ("env", "envs", "environment", "environments")),
    ("production", ("prod", "production")),
    ("service", ("svc", "svcs", "service", "services")),
    ("application", ("app", "apps", "application", "applications")),
    ("message", ("msg", "msgs", "message", "messages")),
    ("request", ("req", "reqs", "request", "requests")),
    ("error", ("err", "errs", "error", "errors")),
    ("autoscaler", ("hpa", "autoscaler", "autoscaling", "autoscale", "autoscaled")),
    ("dlq", ("dlq", "dlqs")),
    ("ratelimit", ("ratelimit", "ratelimited", "ratelimiting", "ratelimits", "throttled", "throttling", "throttle")),
    ("minute", ("min", "mins", "minute", "minutes")),
    ("second", ("sec", "secs", "second", "seconds")),
    ("hour", ("hr", "hrs", "hour", "hours")),
    ("permission", ("perm", "perms", "permission", "permissions")),
    ("password", ("pw", "pwd", "passwd", "password", "passwords")),
)

# Phrases that mean one thing; checked (as stems) before single words.
_PHRASE_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("out", "of", "memory"), "oom"),
    (("internal", "server", "error"), "5xx"),
    (("timed", "out"), "timeout"),
    (("oom", "kill"), "oom"),
    (("oom", "killer"), "oom"),
    (("rate", "limit"), "ratelimit"),
    (("load", "balancer"), "lb"),
    (("garbage", "collect"), "gc"),
    (("garbage", "collector"), "gc"),
    (("dead", "letter"), "dlq"),
    (("roll", "out"), "deploy"),
)

# Status codes count as themselves and as their class.
_STATUS_CLASS = re.compile(r"^([45])\d\ds?$")

_IRREGULAR = {
    "ran": "run",
    "grew": "grow",
    "grown": "grow",
    "fell": "fall",
    "fallen": "fall",
    "held": "hold",
    "kept": "keep",
    "went": "go",
    "died": "die",
    "dies": "die",
    "dying": "die",
    "lost": "lose",
    "broke": "break",
    "broken": "break",
    "froze": "freeze",
    "frozen": "freeze",
    "stuck": "stick",
    "wrote": "write",
    "written": "write",
    "writes": "write",
    "writing": "write",
    "began": "begin",
    "begun": "begin",
    "hung": "hang",
    "hangs": "hang",
    "hanging": "hang",
    "does": "do",
    "did": "do",
}

# ----------------------------------------------------------------------------------------------- negation

_COPULA = frozenset(
    _split(
        """
        is are was were be been being am isnt arent wasnt werent
        """
    )
)
_AUX = frozenset(_split("do does did has have had"))
_MODAL = frozenset(
    _split(
        """
        can could will would should might may must ca wo
        """
    )
)
_LOOK = frozenset(
    _split(
        """
        look looks looked looking seem seems seemed appear appears appeared remain remains remained stay stays
        stayed sound sounds
        """
    )
)
_SEE = frozenset(
    _split(
        """
        see seeing seen saw find finding found notice noticed noticing show shows showing showed spot spotted
        observe observed think believe
        """
    )
)
# "no sign of X": the filler after the cue word is skipped, the scope is X.
_FILLER = frozenset(
    _split(
        """
        sign signs evidence indication indications trace traces hint hints mention mentions of any obvious real
        clear recent new sight other more such actual
        """
    )
)
# A state that says the subject is not in play: "vacuum is not running", "traffic hasn't changed".
_STATES = frozenset(
    _split(
        """
        running happening active present there involved related relevant responsible elevated high higher
        spiking spiked up increasing increased growing grown grow grew changed change different unusual abnormal
        firing enabled on ongoing scheduled it a an the to blame at fault any jumping jumped rising rose
        climbing moving moved
        """
    )
)
# "X looks fine": the scope is X (before the word).
_FINE = frozenset(
    _split(
        """
        fine normal healthy ok okay good nominal stable flat unchanged steady green clean unaffected quiet
        unrelated irrelevant innocent works working worked succeeds passes passing tiny negligible minimal
        insignificant
        """
    )
)
_CONTRAST = frozenset(_split("other others else rest remaining"))
_ZERO = frozenset(_split("0 zero"))
_VERDICT = frozenset(_split("correct irrelevant unrelated"))
_KEEPING_UP = frozenset(_split("keeping keeps kept catching caught"))
_PRONOUNS = frozenset(_split("it its it's that this these those all everything s"))
# "never got an export request", "never saw a deploy": what was never seen did not happen (unlike "never returned")
_NEVER_SAW = frozenset(_split("got get gets received receive saw see sees seen had has have hit hits touched ran"))
_BROKEN_BEFORE = frozenset(
    _split(
        """
        stopped stop stops quit quits ceased not never nt no
        """
    )
)
_NOT_BEFORE_FINE = frozenset(
    _split(
        """
        than above below over under to from back x of the a not no more less very
        """
    )
)
# Words that end a negation's scope.
_SCOPE_END = frozenset(
    _split(
        """
        but however though although yet except because since so while whereas which when until and then also
        instead
        """
    )
)
_PSEUDO = frozenset(
    {
        ("not", "sure"),
        ("not", "certain"),
        ("not", "clear"),
        ("not", "only"),
        ("not", "just"),
        ("no", "idea"),
        ("no", "doubt"),
        ("no", "wonder"),
        ("not", "yet"),
        ("no", "longer"),
        ("not", "convinced"),
        ("nt", "sure"),
        ("nt", "know"),
        ("nt", "only"),
        ("nt", "just"),
        ("nt", "yet"),
    }
)
_FORWARD_CUES = frozenset(
    _split(
        """
        no not nt never none nothing without nor neither nobody
        """
    )
)
_ARTICLES = frozenset(
    _split(
        """
        the a an any it there its
        """
    )
)
_SOFTENERS = frozenset(
    _split(
        """
        be been being even really actually quite exactly necessarily
        """
    )
)
_AFTER_SEE = frozenset(
    _split(
        """
        any it is like that a an the its anything much
        """
    )
)
_DEGREE = frozenset(
    _split(
        """
        all totally completely perfectly pretty mostly entirely super fairly
        """
    )
)
_MAX_FORWARD = 6  # content words
_MAX_BACKWARD = 4

_NT = "nt"  # the token that stands for "n't"

# ---------------------------------------------------------------------------------------------- tokenizing

_PIECE = re.compile(
    r"(?P<w>[^\W_]+(?:['’][^\W_]+)*)"  # a word, with its apostrophes ("wasn't", "it's")
    r"|(?P<b>[.;:!?,]+(?=\s|$)|[()\[\]{}\"“”—…|\n]|\s[-–]+\s)"  # a clause boundary
)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_VOWEL = re.compile(r"[aeiouy]")


class Token(NamedTuple):
    """A content word: its term, where it is, and whether it is negated."""

    term: str  # canonical stem, e.g. "exhaust"
    surface: str  # as written, e.g. "exhaustion"
    start: int  # offsets in the analysed text
    end: int
    negated: bool = False
    scope: int = -1  # index of its negation scope in Analysis.scopes, -1 when not negated
    weight: float = 1.0  # 0.5 in a question ("is it DNS?")
    extras: tuple[str, ...] = ()  # further terms for the bag of words ("502" is also "5xx")
    ruled_out: bool = False  # negated by a negation that rules it out ("no sign of X"), not one that describes
    clause: int = 0  # index of its clause (between punctuation) in the text
    log: bool = False  # inside a pasted log line, stack trace or code block, not prose

    @property
    def key(self) -> str:
        return NEGATED + self.term if self.negated else self.term


@dataclass(frozen=True, slots=True)
class Scope:
    """A negated or ruled-out stretch of text: "no sign of zombie connections or maintenance"."""

    cue: str  # the word that negates: "no", "not", "fine", "ruled out"
    start: int  # offsets of the whole phrase (subject included for "X looks fine")
    end: int
    terms: frozenset[str]  # the (plain) terms it negates
    ruled_out: bool = True  # False when the negation describes the fault ("never returned to the pool")


@dataclass(frozen=True, slots=True)
class Analysis:
    text: str
    tokens: tuple[Token, ...]  # content words only, in order
    scopes: tuple[Scope, ...]

    def snippet(self, scope: Scope) -> str:
        return " ".join(self.text[scope.start : scope.end].split())


@dataclass(slots=True)
class _Raw:
    lower: str  # lower-case word (or "nt" for n't)
    surface: str
    start: int
    end: int
    stem: str = ""
    term: str = ""
    content: bool = True
    boundary: bool = False  # a clause boundary (punctuation)
    question: bool = False  # boundary is a question mark
    negated: bool = False
    scope: int = -1
    weight: float = 1.0
    extras: tuple[str, ...] = ()
    skip: bool = False  # merged into a phrase
    clause: int = 0
    joins: tuple[str, ...] = ()  # the parts of a CamelCase word joined


_BARE_NT = {
    "dont": "do",
    "doesnt": "does",
    "didnt": "did",
    "isnt": "is",
    "arent": "are",
    "wasnt": "was",
    "werent": "were",
    "hasnt": "has",
    "havent": "have",
    "hadnt": "had",
    "cant": "can",
    "couldnt": "could",
    "wont": "will",
    "wouldnt": "would",
    "shouldnt": "should",
    "aint": "is",
}


def _split_apostrophe(word: str) -> tuple[str, str | None]:
    """("wasn't" -> "was", "nt"), ("it's" -> "it", "is"), ("service's" -> "service", None)."""
    lower = word.lower().replace("’", "'")
    if "'" not in lower:
        if lower in _BARE_NT:
            return _BARE_NT[lower], _NT
        return lower, None
    base, _, suffix = lower.partition("'")
    if suffix == "t" and base.endswith("n"):
        if base in ("can", "ca"):
            return "can", _NT
        if base == "won":
            return "will", _NT
        if base == "ain":
            return "is", _NT
        return base[:-1], _NT
    if suffix == "s":
        return base, ("is" if base in ("it", "that", "what", "there", "here", "he", "she", "who") else None)
    if suffix == "re":
        return base, "are"
    if suffix == "ve":
        return base, "have"
    if suffix == "ll":
        return base, "will"
    if suffix == "d":
        return base, "would"
    if suffix == "m":
        return base, "am"
    return base + suffix, None


_ENGLISH = snowballstemmer.stemmer("english")  # Porter2; PyStemmer (C) does the work when it is installed


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter2) stem: exhausted/exhaustion/exhausting -> exhaust; spikes/spiked -> spike."""
    w = word.lower()
    if w in _IRREGULAR:
        w = _IRREGULAR[w]
    if len(w) <= 3 or not w.isalpha():
        return w
    return str(_ENGLISH.stemWord(w))


def _build_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for target, words in _WORD_GROUPS:
        term = stem(target) if target.isalpha() else target
        for word in words:
            table[word] = term
            table.setdefault(stem(word), term)
    return table


_SYNONYMS = _build_synonyms()
_PHRASES = tuple((tuple(stem(w) for w in words), target) for words, target in _PHRASE_WORDS)
_PHRASE_FIRST = {p[0][0] for p in _PHRASES}


@lru_cache(maxsize=65536)
def canonical(word: str) -> str:
    """The term of one lower-case word: synonyms first, then the stem."""
    if word in _SYNONYMS:
        return _SYNONYMS[word]
    s = stem(word)
    return _SYNONYMS.get(s, s)


def _term_set(words: Iterable[str]) -> frozenset[str]:
    return frozenset(canonical(w) for w in words)


_STOP_TERMS = _term_set(STOPWORDS) | STOPWORDS
_GENERIC_TERMS = _term_set(GENERIC) - _STOP_TERMS


def is_stopword(term: str) -> bool:
    return term in _STOP_TERMS or (term.isdigit() and not (len(term) == 3 and term[0] in "12345"))


def generic_weight(term: str) -> float:
    """How much a term counts for its own sake: generic incident words a quarter."""
    base = term[len(NEGATED) :] if term.startswith(NEGATED) else term
    return 0.25 if base in _GENERIC_TERMS else 1.0


def _pieces(text: str) -> list[_Raw]:
    raws: list[_Raw] = []
    for m in _PIECE.finditer(text):
        if m.group("b") is not None:
            raws.append(
                _Raw(
                    m.group("b"),
                    m.group("b"),
                    m.start(),
                    m.end(),
                    content=False,
                    boundary=True,
                    question="?" in m.group("b"),
                )
            )
            continue
        word, start = m.group("w"), m.start()
        lower = word.lower()
        plain = lower.isalnum() and lower not in _BARE_NT  # the common case: a plain word
        if plain and (word == lower or word.isupper() or lower in _SYNONYMS or not _CAMEL.search(word)):
            raws.append(_Raw(lower, word, start, m.end()))
            continue
        base, extra = _split_apostrophe(word)
        base_len = len(word) if extra is None else word.replace("’", "'").find("'")
        if base_len < 0:
            base_len = len(word)
        surface_base = word[:base_len]
        if base in _SYNONYMS or not _CAMEL.search(surface_base):
            raws.append(_Raw(base, surface_base, start, start + base_len))
        else:
            offset = 0
            parts = [p for p in _CAMEL.split(surface_base) if p]
            for part in parts:
                raws.append(_Raw(part.lower(), part, start + offset, start + offset + len(part)))
                offset += len(part)
            # "CrashLoopBackOff" is also said "crashlooping" or "crashloopbackoff"
            lowers = [p.lower() for p in parts]
            joins = {"".join(lowers[k : k + 2]) for k in range(len(lowers) - 1)} | {"".join(lowers)}
            raws[-len(parts)].joins = tuple(sorted(canonical(j) for j in joins))
        if extra is not None:
            raws.append(_Raw(extra, word[base_len:], start + base_len, m.end(), content=False))
    return raws


def _normalize(raws: list[_Raw]) -> None:
    for r in raws:
        if r.boundary or r.lower == _NT:
            r.content = False
            continue
        r.stem = stem(r.lower)
    # phrases first ("out of memory" -> oom, "timed out" -> timeout)
    i = 0
    while i < len(raws):
        r = raws[i]
        if not r.boundary and r.stem in _PHRASE_FIRST:
            for phrase, target in _PHRASES:
                n = len(phrase)
                window = raws[i : i + n]
                if len(window) == n and all(
                    not w.boundary and w.stem == p for w, p in zip(window, phrase, strict=True)
                ):
                    r.term, r.end = target, window[-1].end
                    r.surface = " ".join(w.surface for w in window)
                    for w in window[1:]:
                        w.skip, w.content = True, False
                    i += n - 1
                    break
        i += 1
    for r in raws:
        if r.boundary or r.skip or r.lower == _NT:
            continue
        if not r.term:
            r.term = canonical(r.lower)
        m = _STATUS_CLASS.match(r.lower) if r.lower[:1].isdigit() else None
        if m and r.term not in ("5xx", "4xx"):
            r.term = r.lower.rstrip("s")
            r.extras = (m.group(1) + "xx",)
        r.extras += tuple(j for j in r.joins if j != r.term)
        if is_stopword(r.term) or (r.lower in _STOP_TERMS and r.term == canonical(r.lower)):
            r.content = False


def _words(raws: list[_Raw]) -> list[_Raw]:
    return [r for r in raws if not r.skip]


def _negate(toks: list[_Raw], scopes: list[Scope]) -> None:
    """Find negation cues and mark the content words in their scope (see the module docstring)."""
    n = len(toks)

    def lw(i: int) -> str:
        return toks[i].lower if 0 <= i < n and not toks[i].boundary else ""

    def make(hit: list[int], cue: str, start: int, end: int, ruled_out: bool) -> None:
        fresh = [k for k in hit if not toks[k].negated]
        if not fresh:
            return
        index = len(scopes)
        scopes.append(Scope(cue, min(start, end), max(start, end), frozenset(toks[k].term for k in fresh), ruled_out))
        for k in fresh:
            toks[k].negated, toks[k].scope = True, index

    def forward(i: int, cue: str, cue_start: int, ruled_out: bool) -> None:
        """Negate the content words after index i, up to the end of the clause."""
        j, hit = i, list[int]()
        while j < n and len(hit) < _MAX_FORWARD:
            t = toks[j]
            if t.boundary or (t.lower in _SCOPE_END and j > i):
                break
            if t.content:
                hit.append(j)
            j += 1
        make(hit, cue, cue_start, toks[hit[-1]].end if hit else cue_start, ruled_out)

    def backward(i: int, cue: str, cue_end: int, across: bool = False) -> None:
        """Negate the content words before index i (the subject: "cpu and memory look fine").

        "every other host is fine" contrasts the others with the one that fails: that describes the fault. With
        `across`, a verdict without a subject of its own ("…: 0-12 across partitions. it's keeping up") is about
        the clause before it."""
        j, hit, limit, contrast = i, list[int](), _MAX_BACKWARD, False
        while j >= 0 and len(hit) < limit:
            t = toks[j]
            if t.boundary and across and not hit and t.lower.strip() in (",", ".", ";", ":", "—", "-", "--"):
                across = False  # one clause back, once
                j -= 1
                continue
            if t.boundary or t.lower in _FORWARD_CUES or (t.lower in _SCOPE_END and t.lower not in ("and", "or")):
                break
            if t.lower in ("and", "or"):  # "cpu and memory": one more word, not a whole clause
                limit = min(limit, len(hit) + 1)
            contrast = contrast or t.lower in _CONTRAST
            if t.content:
                hit.append(j)
            j -= 1
        make(hit, cue, toks[hit[-1]].start if hit else cue_end, cue_end, not contrast)

    def _subjectless(i: int) -> bool:
        """Nothing but pronouns and copulas between the clause's start and index i."""
        j = i - 1
        while j >= 0 and not toks[j].boundary:
            if toks[j].content and toks[j].lower not in _PRONOUNS:
                return False
            j -= 1
        return True

    def skip(j: int, words: frozenset[str]) -> int:
        while j < n and not toks[j].boundary and toks[j].lower in words:
            j += 1
        return j

    i = 0
    while i < n:
        t = toks[i]
        if t.boundary:
            i += 1
            continue
        w, nxt, prev = t.lower, lw(i + 1), lw(i - 1)
        if (w, nxt) in _PSEUDO:
            i += 2
            continue
        # "ruled out DNS" / "DNS was ruled out" / "excluded the cache"
        if (w in ("ruled", "rule", "rules", "ruling") and nxt == "out") or w in ("excluded", "eliminated"):
            after = i + (2 if nxt == "out" else 1)
            for k in range(i, after):
                toks[k].content = False
            j = skip(after, _ARTICLES)
            if j < n and not toks[j].boundary and toks[j].content:
                forward(j, "ruled out", t.start, True)
            else:
                backward(i - 1, "ruled out", toks[after - 1].end)
            i = after
            continue
        if w == "red" and nxt == "herring":
            t.content = toks[i + 1].content = False
            backward(i - 1, "red herring", toks[i + 1].end)
            i += 2
            continue
        # A measurement of nothing rules out what it measures: "evicted_keys is 0", "consumer lag is ~0",
        # "restarts: 0", "0 evictions", "zero restarts" (not "from 0 to 38%", "0.1%", "dropped to 0"). The engine
        # counts it against the root causes it bears on, never against a whole error: "lag 0 at 14:41 :tada:" at
        # the end of an incident says it recovered.
        if w in _ZERO:
            ends = i + 1 >= n or toks[i + 1].boundary or not toks[i + 1].content
            if ends and (prev in _COPULA or prev in ("at", "of") or (i > 0 and toks[i - 1].boundary)):
                before = i - 2
                while before >= 0 and not toks[before].boundary and toks[before].lower in _COPULA:
                    before -= 1
                if (
                    before >= 0
                    and not toks[before].boundary
                    and toks[before].content
                    and not (i + 1 < n and toks[i + 1].lower in ("to", "percent"))
                ):
                    t.content = False
                    backward(before, w, t.end)
            elif ends and i > 0 and toks[i - 1].content and not toks[i - 1].boundary and prev != "to":  # "restarts 0"
                t.content = False
                backward(i - 1, w, t.end)
            elif i + 1 < n and toks[i + 1].content and prev not in ("from", "exit", "code", "than", "between"):
                t.content = False
                forward(i + 1, w, t.start, True)  # "0 evictions", "zero restarts"
                i += 1
                continue
            i += 1
            continue
        # "X looks fine", "cpu is normal", "db fine", "parsing works"; not "normal traffic", "above normal"
        # A verdict with no subject of its own: "…, correct", "it's keeping up", "that's fine", "irrelevant"
        verdict = w in _VERDICT or (w == "up" and prev in _KEEPING_UP)
        ends = i + 1 >= n or toks[i + 1].boundary or not toks[i + 1].content
        if (verdict or (w in _FINE and _subjectless(i))) and ends and _subjectless(i - 1 if w == "up" else i):
            t.content = False
            if w == "up":
                toks[i - 1].content = False
            backward(i - 1, w, t.end, across=True)
            i += 1
            continue
        if w in _FINE:
            follows = (
                i + 1 >= n
                or toks[i + 1].boundary
                or not toks[i + 1].content
                or (
                    w == "flat" and nxt in ("line", "lined", "lines", "lining")  # "IOPS flat-lined"
                )
            )
            linked = prev in _COPULA or prev in _LOOK or prev in _DEGREE
            direct = i > 0 and toks[i - 1].content and not any(c.isdigit() for c in prev)
            if prev not in _NOT_BEFORE_FINE and prev not in _BROKEN_BEFORE and follows and (linked or direct):
                t.content = False
                backward(i - 1, w, t.end)
            i += 1
            continue
        if w == "rather" and nxt == "than":
            forward(i + 2, "rather than", t.start, True)
            i += 2
            continue
        if w not in _FORWARD_CUES:
            i += 1
            continue
        cue = "n't" if w == _NT else w
        cue_start = toks[i - 1].start if w == _NT and i > 0 else t.start
        j = i + 1
        if w in ("not", _NT):
            if prev in _MODAL and nxt not in ("be", "see", "find", "think", "rule"):
                i += 1  # "can't connect", "won't start": a symptom, not a negation
                continue
            j = skip(j, _SOFTENERS)
            if lw(j) in _SEE or (lw(j) in _LOOK and lw(j + 1) == "like"):
                # "don't see any X", "doesn't look like X", "not seeing X": X is ruled out
                j = skip(j + 1, _AFTER_SEE)
                forward(j, cue, cue_start, True)
                i = j
                continue
            first = skip(j, _ARTICLES)
            head = lw(first)
            state = j >= n or toks[j].boundary or lw(j) in _STATES or head in _STATES or lw(j) in _ARTICLES
            if prev in _COPULA or prev in _AUX:
                if state:  # "vacuum is not running", "traffic hasn't changed", "it wasn't the cache"
                    backward(i - 2, cue, t.end)
                    forward(j, cue, cue_start, True)
                elif prev in _AUX or head.endswith(("ed", "ing")) or lw(j - 1) == "being":
                    # "doesn't release the session", "connections are not being returned": describes the fault
                    forward(j, cue, cue_start, False)
                else:  # "it's not DNS"
                    forward(j, cue, cue_start, True)
            else:  # "not a deploy", "not DNS"
                forward(j, cue, cue_start, True)
            i = j
            continue
        if w in ("never", "without"):  # "never returned to the pool": describes the fault
            if w == "never" and lw(j) in _NEVER_SAW:  # "they never got an export request": rules it out
                toks[j].content = False
                forward(j + 1, cue, cue_start, True)
                i = j + 1
                continue
            forward(j, cue, cue_start, False)
            i = j
            continue
        # no, none, nothing, nobody, nor, neither: "no sign of X", "nothing in the logs about X"
        j = skip(j, _FILLER)
        for k in range(i + 1, j):
            toks[k].content = False
        verb = lw(j)
        # "nobody added the name", "nothing allows port 53": describes what is missing
        describes = w in ("nothing", "nobody") and verb.endswith(("ed", "s")) and verb not in _STATES
        forward(j, cue, cue_start, not describes)
        i = j


# A clause that proposes rather than observes: "probably traffic again", "could it be the cert", "like in April".
# Its words are a hypothesis: they count half (a question too; both, a quarter), and a "no" can answer them.
_HEDGES = frozenset(
    _split(
        """
        maybe probably perhaps possibly presumably guess guessing suspect suspecting suspicion wonder wondering
        hunch theory hypothesis speculating bet
        """
    )
)
_HEDGE_PAIRS = frozenset(
    {
        ("could", "be"),
        ("could", "it"),
        ("might", "be"),
        ("might", "have"),
        ("may", "be"),
        ("i", "think"),
        ("i", "bet"),
        ("we", "think"),
        ("my", "bet"),
    }
)
# A sentence that points at a past incident ("like in April", "same as last time") proposes the same cause again.
_PAST_PAIRS = frozenset(
    {
        ("last", "time"),
        ("last", "week"),
        ("last", "month"),
        ("like", "in"),
        ("like", "last"),
        ("same", "as"),
        ("as", "before"),
        ("remember", "when"),
        ("last", "year"),
        ("was", "inc"),
        ("the", "postmortem"),
    }
)
_PAST_WORDS = frozenset(_split("postmortem retro retrospective"))
_MONTHS = frozenset(
    _split(
        "january february march april june july august september october november december jan feb apr jun jul aug "
        "sep sept oct nov dec"
    )
)
HYPOTHESIS = 0.5  # weight of a word in a hedged clause or a question (both: a quarter)


# "on-demand vCPU: 1,840 used of 3,000", "pool 12/100": a measurement well below its limit rules out what it
# measures being exhausted. (At 80% or more it says nothing either way.)
_NUMBER_ = r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?"
_USED_OF = re.compile(
    rf"(?<![\w./])(?P<a>{_NUMBER_})\s*(?P<unit>%|[kmg]i?b?)?\s*"
    r"(?:used\s+(?:of|out of)|in use of|/|of (?:the |a )?(?:limit|max(?:imum)?|quota) of)\s*"
    rf"(?P<b>{_NUMBER_})\s*(?:[kmg]i?b?)?(?![\w./])",
    re.IGNORECASE,
)
HEADROOM = 0.8


def _headroom(text: str, toks: list[_Raw], scopes: list[Scope]) -> None:
    for m in _USED_OF.finditer(text):
        try:
            used, limit = float(m.group("a").replace(",", "")), float(m.group("b").replace(",", ""))
        except ValueError:
            continue
        if m.group("unit") == "%" or limit <= 0 or used / limit >= HEADROOM or limit < 4:
            continue
        first = next((k for k, t in enumerate(toks) if t.start >= m.start()), len(toks))
        hit: list[int] = []
        k = first - 1
        if k >= 0 and toks[k].boundary and toks[k].lower.strip() == ":":  # "vCPU: 1,840 used of 3,000"
            k -= 1
        while k >= 0 and len(hit) < _MAX_BACKWARD and not toks[k].boundary:
            if toks[k].content and not toks[k].negated and not toks[k].lower[:1].isdigit():
                hit.append(k)
            k -= 1
        if not hit:
            continue
        index = len(scopes)
        start, end = toks[hit[-1]].start, m.end()
        scopes.append(Scope("of", start, end, frozenset(toks[k].term for k in hit), True))
        for k in hit:
            toks[k].negated, toks[k].scope = True, index


def _mark_questions(toks: list[_Raw]) -> None:
    """Words in a question, a hedged clause, or a sentence about a past incident weigh less (see HYPOTHESIS)."""
    clause: list[_Raw] = []
    sentence: list[_Raw] = []
    number = 0
    for t in toks:
        if t.boundary:
            weight = 1.0
            if t.question:
                weight *= HYPOTHESIS
            if _hedged(clause):
                weight *= HYPOTHESIS
            if weight < 1.0:
                for c in clause:
                    c.weight = weight
            clause = []
            number += 1
            if any(ch in t.lower for ch in ".!?\n"):
                _past(sentence)
                sentence = []
        else:
            t.clause = number
            clause.append(t)
            sentence.append(t)
    if _hedged(clause):
        for c in clause:
            c.weight = HYPOTHESIS
    _past(sentence)


def _hedged(clause: list[_Raw]) -> bool:
    words = [c.lower for c in clause]
    if any(w in _HEDGES for w in words):
        return True
    return any(pair in _HEDGE_PAIRS for pair in pairwise(words))


def _past(sentence: list[_Raw]) -> None:
    words = [c.lower for c in sentence]
    if any(w in _MONTHS or w in _PAST_WORDS for w in words) or any(p in _PAST_PAIRS for p in pairwise(words)):
        for c in sentence:
            if c.weight == 1.0:
                c.weight = HYPOTHESIS


# Lines that are pasted machine output rather than prose: a timestamp or log level, a stack frame, key=value
# pairs, JSON; and fenced code blocks.
_LOG_LINE = re.compile(
    r"^\s*(?:\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\[?\d{2}:\d{2}:\d{2}|\{\s*\"|at [\w$.]+\(|File \"|Traceback \(|"
    r"Caused by:|\w+(?:\.\w+)+(?:Exception|Error)\b)"
    r"|\b(?:ERROR|WARN|WARNING|FATAL|CRITICAL|level=\w+)\b"
    r"|(?:\b[\w.]+=\S+.*){3}"
)
_CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE = re.compile(r"(?<!`)`[^`\n]+`(?!`)")


def log_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the pasted log lines, code blocks and `inline code` of a text."""
    spans = [(m.start(), m.end()) for m in _CODE_FENCE.finditer(text)] if "```" in text else []
    if "`" in text:
        spans += [(m.start(), m.end()) for m in _INLINE_CODE.finditer(text)]
    offset = 0
    for line in text.splitlines(keepends=True):
        if _LOG_LINE.search(line):
            spans.append((offset, offset + len(line)))
        offset += len(line)
    return spans


# Words that say a channel is not about a fault at all: planned work, a drill, a question, a false alarm, a
# handover. Counted per message (the title too) as one of the decision's features, never as a rule on its own.
_NOT_A_FAULT = re.compile(
    r"\b(planned|scheduled (?:maintenance|work|upgrade|window|change)|maintenance window|change window|drill|"
    r"game ?day|fire drill|exercise|pen ?test\w*|penetration test|hand ?over|hand-off|handoff|capacity plan\w*|"
    r"sizing|forecast\w*|soc ?2|compliance|gdpr|legal|erasure request|feature request|false alarm|false positive|"
    r"as expected|that'?s expected|expected behaviou?r|by design|working as (?:intended|designed)|doing its job|"
    r"that'?s (?:us|just us)|just us|only us|sorry for the noise|not an? (?:real )?(?:incident|outage|issue)|"
    r"no (?:customer|user) impact|nothing (?:is )?broken|"
    r"no action needed|nothing to do here|within (?:their|the|its) (?:contract|limits?|quota)|renewal|"
    r"quick question|question about|on purpose|not (?:in )?prod(?:uction)?|office (?:network|wifi|wi-fi|"
    r"connection|internet|isp|line|vpn)|(?:token|key|credential|secret|password|cert(?:ificate)?) rotation|"
    r"chg-\d+|change (?:ticket|request)|closing the change|maintenance (?:notice|window|mode|is (?:done|complete))|"
    r"(?:complet\w*|finish\w*|start\w*) the maintenance|is scheduled|are scheduled)\b",
    re.IGNORECASE,
)


def not_a_fault(text: str) -> bool:
    """Does the message say the channel is about something other than a fault ("planned upgrade tonight",
    "that's us, it's the pentest", "false alarm, closing")?"""
    return _NOT_A_FAULT.search(text) is not None


_NEGATIVE_ANSWER = re.compile(
    r"\W*(?:(?:hm+|hmm+|ah+|uh+|well|so|ok|okay|checked|checking)\W+)?"
    r"(no|nope|nah|negative|not really|unlikely|not it|not that|doesn'?t look like (it|one|that|so)|"
    r"don'?t think so|i don'?t think so|ruled (that|it) out)\b",
    re.I,
)


_SPEAKER = re.compile(r"^\s*[a-z][\w.-]{0,29}:\s+")  # "ben: no, ..." in a transcript (not "ERROR: no route")


def negative_answer(text: str) -> str | None:
    """The words of a message that opens by answering no ("nope, req rate is flat" -> "nope")."""
    speaker = _SPEAKER.match(text)
    m = _NEGATIVE_ANSWER.match(text[speaker.end() :] if speaker else text)
    return m.group(1) if m else None


@lru_cache(maxsize=8192)
def analyze(text: str) -> Analysis:
    """Tokens (content words, canonical terms), negation scopes. Cached: the same text gives the same object."""
    raws = _pieces(text)
    _normalize(raws)
    toks = _words(raws)
    scopes: list[Scope] = []
    _negate(toks, scopes)
    if any(c.isdigit() for c in text):
        _headroom(text, toks, scopes)
    _mark_questions(toks)
    spans = log_spans(text)
    tokens = []
    for t in toks:
        if not t.content or t.boundary:
            continue
        log = bool(spans) and any(a <= t.start < b for a, b in spans)
        negated = t.negated and not log  # "No signing certificate found" pasted or quoted is a log line, not a "no"
        tokens.append(
            Token(
                t.term,
                t.surface,
                t.start,
                t.end,
                negated,
                t.scope if negated else -1,
                t.weight,
                t.extras,
                negated and scopes[t.scope].ruled_out,
                t.clause,
                log,
            )
        )
    return Analysis(text, tuple(tokens), tuple(scopes))
