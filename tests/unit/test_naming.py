"""Incident channel names: what Slack accepts, from any title."""

import re

import pytest

from bot.domain.naming import MAX_CHANNEL_NAME, channel_names, slugify

TEMPLATE = "inc-{year}-{number:03d}-{slug}"
SLACK_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


def names(title: str, template: str = TEMPLATE, attempts: int = 3) -> list[str]:
    return list(channel_names(template, year=2026, number=1, title=title, severity="sev1", attempts=attempts))


def test_a_plain_title_becomes_the_documented_name() -> None:
    assert names("API 500 errors on User Service")[0] == "inc-2026-001-api-500-errors-on-user-service"


def test_an_emoji_only_title_keeps_just_the_incident_number() -> None:
    assert names("🔥🔥🔥")[0] == "inc-2026-001"


def test_a_two_hundred_character_title_is_cut_to_eighty_characters_keeping_the_number() -> None:
    title = "database connection pool exhausted " * 6

    first = names(title[:200])[0]

    assert len(first) <= MAX_CHANNEL_NAME
    assert first.startswith("inc-2026-001-database-connection-pool")
    assert not first.endswith("-")


def test_a_non_latin_title_is_transliterated() -> None:
    assert names("Сбой оплаты")[0] == "inc-2026-001-sboy-oplaty"
    assert names("支付失败")[0] == "inc-2026-001-zhifushibai"


def test_accents_and_punctuation_are_dropped_and_case_is_lowered() -> None:
    assert slugify("Ünïcödé & <Stuff> / DNS!!") == "unicode-stuff-dns"


def test_later_candidates_add_a_suffix_and_stay_within_the_limit() -> None:
    candidates = names("x" * 200, attempts=12)

    assert candidates[1].endswith("-2")
    assert candidates[11].endswith("-12")
    assert all(len(n) <= MAX_CHANNEL_NAME and n.startswith("inc-2026-001") for n in candidates)
    assert len(set(candidates)) == 12


@pytest.mark.parametrize(
    "title",
    ["API 500s", "🔥", "x" * 300, "Ошибка 500 в API", "a_b c-d", "   ", "---", "Ünïcödé", "😀 payments 😀"],
)
def test_every_candidate_is_a_name_slack_accepts(title: str) -> None:
    assert all(SLACK_NAME.match(n) for n in names(title, attempts=5))


def test_a_template_with_severity_and_the_number_last_keeps_the_number() -> None:
    assert names("Checkout down", template="{severity}-{slug}-{number}")[0] == "sev1-checkout-down-1"
    assert names("y" * 200, template="{severity}-{slug}-{number}")[0].endswith("-1")
