"""Incident channel names that Slack accepts.

Slack's rule (conversations.create): only lowercase letters, digits, hyphens and underscores, at most 80
characters. Titles are free text, so they are transliterated to ASCII (anyascii: "Сбой оплаты" -> "sboy-oplaty",
"支付失败" -> "zhifushibai"), lowercased, and everything else becomes a hyphen. The incident number is never cut:
when the name is too long, the title part is shortened (at a word boundary where possible).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from anyascii import anyascii

MAX_CHANNEL_NAME = 80
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
_HYPHENS = re.compile(r"-{2,}")
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")


def slugify(title: str) -> str:
    """A channel-safe slug of a title; empty when nothing of the title survives (e.g. emoji only)."""
    ascii_title = anyascii(title).lower()
    ascii_title = _EMOJI_CODE.sub(" ", ascii_title)  # anyascii spells emoji as :fire:; they carry no words
    slug = _NOT_ALLOWED.sub("-", ascii_title.replace("_", "-"))
    return _HYPHENS.sub("-", slug).strip("-")


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _fit(prefix_and_slug: tuple[str, str, str], limit: int) -> str:
    head, slug, tail = prefix_and_slug
    room = limit - len(head) - len(tail)
    if room <= 0:
        return (head + tail)[:limit].strip("-")
    if len(slug) > room:
        cut = slug[:room]
        if "-" in cut and slug[room : room + 1] not in ("-", ""):
            cut = cut.rsplit("-", 1)[0]  # don't leave half a word
        slug = cut.strip("-")
    name = head + slug + tail if slug else (head.rstrip("-_") + tail if tail else head.rstrip("-_"))
    return _HYPHENS.sub("-", name).strip("-")


def channel_names(
    template: str, *, year: int, number: int, title: str, severity: str, attempts: int = 20
) -> Iterator[str]:
    """Candidate names in order of preference: the plain name, then `-2`, `-3`, ... for when it is taken.

    Every candidate is lowercase, uses only characters Slack allows, is at most 80 characters long and keeps
    the incident number."""
    slug = slugify(title)
    marker = "\x00"
    rendered = template.format(year=year, number=number, slug=marker, severity=slugify(severity)).lower()
    head, _, tail = rendered.partition(marker) if marker in rendered else (rendered, "", "")
    head = _HYPHENS.sub("-", _NOT_ALLOWED.sub("-", head))
    tail = _HYPHENS.sub("-", _NOT_ALLOWED.sub("-", tail))
    base = (head, slug, tail)
    for attempt in range(1, attempts + 1):
        suffix = "" if attempt == 1 else f"-{attempt}"
        yield _fit((base[0], base[1], base[2] + suffix), MAX_CHANNEL_NAME)
