"""Two replicas behind a load balancer on one database: root-cause suggestions see what was said to either, and
a replica that starts later (or restarts) rebuilds the incident's evidence from the database."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from bot.config import load_config
from bot.emulator import SlackEmulator
from bot.suggestions.engine import Suggestion
from tests.conftest import People, environment, serving, serving_at

from .balancer import round_robin
from .steps import open_incident
from .test_suggestions import SPIKE, config_file, suggestions, talk


def summary(ranked: list[Suggestion]) -> list[tuple[str, str, float, tuple[str, ...]]]:
    return [(s.error_name, s.root_cause_name, round(s.score, 6), s.evidence) for s in ranked]


async def test_a_suggestion_weighs_what_was_said_to_either_replica_and_is_posted_once(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    # Arrange: two replicas on one database, Slack's requests shared between them in turn.
    config = load_config(config_file(tmp_path, interval=300), environment(emulator, database_url))
    async with serving_at(config, emulator) as (first, first_base), serving_at(config, emulator) as (second, base):
        first_url, second_url = f"{first_base}/slack/events", f"{base}/slack/events"
        async with round_robin([first_url, second_url]) as balancer:
            emulator.set_request_url(balancer.url)
            channel = await open_incident(emulator, people.alice, people.general, "Pool timeouts")
            await emulator.join(people.bob, channel.id)

            # Act: the conversation, each message to the next replica.
            for line in SPIKE:
                await talk(emulator, first, channel, people.bob, [line])
                assert await second.background.drained(within=10)
            await emulator.wait_idle()

            incident = await first.services.incidents.in_channel(emulator.team_id, channel.id)
            assert incident is not None
            on_first, _ = await first.services.suggestions.ranking(incident, top=3)
            on_second, _ = await second.services.suggestions.ranking(incident, top=3)
            emulator.set_request_url(second_url)  # (the balancer closes before the replicas do)

    # Assert: the conversation was shared between the replicas, one suggestion was posted, and it and both
    # replicas' rankings weigh all of it.
    for target in (first_url, second_url):
        assert any(line.encode() in body for line in SPIKE for body in balancer.bodies_sent_to(target))
    [posted] = suggestions(emulator, channel)
    shown = str(posted.blocks)
    assert "Likely root cause: Traffic Spike" in shown
    assert "Timeout waiting for connection from pool" in shown
    assert "3x normal" in shown
    assert summary(on_first) == summary(on_second)
    assert on_first[0].root_cause_name == "Traffic Spike"


async def test_a_replica_started_later_ranks_edits_and_deletions_it_never_received_as_the_first_does(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    config = load_config(config_file(tmp_path, interval=300), environment(emulator, database_url))
    async with serving(config, emulator) as first:
        channel = await open_incident(emulator, people.alice, people.general, "Pool timeouts")
        await emulator.join(people.bob, channel.id)
        said = [await emulator.post_message(people.bob, channel.id, line) for line in SPIKE]
        await emulator.wait_idle()
        await emulator.edit_message(people.bob, channel.id, said[3].ts, "traffic is flat, no spike at all")
        await emulator.delete_message(people.bob, channel.id, said[4].ts)
        await emulator.post_message(people.bob, channel.id, "hundreds of sessions idle in transaction, a leak")
        await emulator.wait_idle()
        assert await first.background.drained(within=10)
        incident = await first.services.incidents.in_channel(emulator.team_id, channel.id)
        assert incident is not None
        on_first, _ = await first.services.suggestions.ranking(incident, top=3)

        async with serving(config, emulator) as later:  # as after a restart: nothing of this incident in memory
            on_later, _ = await later.services.suggestions.ranking(incident, top=3)

    assert summary(on_later) == summary(on_first)
    assert on_first[0].root_cause_name == "Zombie Connections"
    assert not any("3x normal" in line for s in on_first for line in s.evidence)  # the edit took its words back


async def test_when_the_engines_process_dies_the_next_ranking_starts_a_new_one_that_rebuilds_the_evidence(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    config = load_config(config_file(tmp_path, interval=300), environment(emulator, database_url))
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Pool timeouts")
        await emulator.join(people.bob, channel.id)
        await talk(emulator, bot, channel, people.bob, SPIKE)
        incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
        assert incident is not None
        before, _ = await bot.services.suggestions.ranking(incident, top=3)
        engine = bot.services.suggestions.engine
        pid = engine.pid
        assert pid is not None

        os.kill(pid, signal.SIGKILL)
        after, _ = await bot.services.suggestions.ranking(incident, top=3)

        assert engine.pid not in (None, pid)
    assert summary(after) == summary(before)
