"""Resemblance of incidents' evidence (bot/suggestions/resemblance.py): what a message adds, how an edit or a
deletion takes it back, what is kept of a resolved incident, and when a past incident is named or not."""

from __future__ import annotations

from bot.suggestions.resemblance import MIN_MESSAGES, Bag, Resemblances, bag_of, fingerprint, message_terms

CERT = [
    "webhook-dispatcher: x509: certificate signed by unknown authority",
    "the partner rotated to a new intermediate",
    "our image pins an old ca-certificates bundle",
    "mounting the intermediate through the trust-store configmap",
]
DISK = [
    "elasticsearch flood stage watermark exceeded on es-data-3",
    "index went read-only, writes rejected",
    "snapshot temp files filled the disk",
    "cleared the read-only block after deleting the temp files",
]
CHATTER = ["joining", "IC: me, comms: sam", "status page updated", "looks better now", "thanks all"]


def said(lines: list[str], times: int = 1) -> list[str]:
    return [*lines, *CHATTER] * times


def test_a_message_adds_its_terms_and_the_pairs_of_neighbouring_terms_but_not_what_it_rules_out() -> None:
    terms = message_terms("certificate expired on the gateway, not the DNS")

    assert "certif" in terms
    assert "certif+expir" in terms
    assert "dns" not in terms


def test_an_edited_or_deleted_message_takes_its_terms_back() -> None:
    bag = Bag()
    bag.put("m1", "certificate expired")
    bag.put("m2", "disk full")

    bag.put("m1", "disk full again")  # edited
    bag.remove("m2")  # deleted

    assert "certif" not in bag.counts
    assert bag.counts["disk"] == 1
    assert len(bag) == 1


def test_what_is_kept_of_a_resolved_incident_is_its_most_frequent_terms() -> None:
    counts = bag_of(["disk disk disk full", "disk full", "cert"])

    kept = fingerprint(counts, most=2)

    assert kept == {"disk": 4, "disk+full": 2}  # "full" ties with "disk+full" and goes by name


def test_a_recurrence_with_enough_evidence_names_the_past_incident_with_the_words_both_said() -> None:
    index = Resemblances({1: fingerprint(bag_of(said(CERT))), 2: fingerprint(bag_of(said(DISK)))})
    now = bag_of(said(CERT, times=2))

    found = index.best(now, messages=MIN_MESSAGES)

    assert found is not None
    assert found.incident_id == 1
    assert "unknown+author" in found.shared
    assert "joining" not in found.shared  # said in every incident: not distinctive


def test_nothing_is_named_before_the_incident_has_enough_messages() -> None:
    index = Resemblances({1: fingerprint(bag_of(said(CERT))), 2: fingerprint(bag_of(said(DISK)))})

    assert index.best(bag_of(said(CERT, times=2)), messages=MIN_MESSAGES - 1) is None


def test_an_incident_that_only_shares_everyday_incident_words_names_nothing() -> None:
    index = Resemblances({1: fingerprint(bag_of(said(CERT))), 2: fingerprint(bag_of(said(DISK)))})
    now = bag_of(said(["payments queue consumer lag", "kafka partition rebalance loop"], times=2))

    assert index.best(now, messages=MIN_MESSAGES) is None


def test_two_past_incidents_equally_alike_name_neither() -> None:
    index = Resemblances({1: fingerprint(bag_of(said(CERT))), 2: fingerprint(bag_of(said(CERT)))})

    assert index.best(bag_of(said(CERT, times=2)), messages=MIN_MESSAGES) is None


def test_the_incident_itself_is_never_named() -> None:
    index = Resemblances({1: fingerprint(bag_of(said(CERT))), 2: fingerprint(bag_of(said(DISK)))})

    assert index.best(bag_of(said(CERT, times=2)), messages=MIN_MESSAGES, besides=1) is None


def test_words_are_shown_as_written_without_repeating_what_a_pair_says() -> None:
    bag = Bag()
    bag.put("m1", "x509: unknown authority")

    shown = bag.as_written(["unknown+author", "author", "x509"])

    assert shown == ("unknown authority", "x509")
