"""The web view in a real browser: sign-in with Slack, the pages, escaping, private incidents, sign-out, headers."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.emulator import Channel, Message, SlackEmulator
from bot.storage import Database
from bot.storage.tables import IncidentRow, MessageRow, SuggestionRow
from tests.conftest import People
from tests.scenarios.steps import card, open_incident, run

from .conftest import PREFIX, Browser, serving_web


def severe(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("message")) for e in entries if e.get("level") == "SEVERE"]


async def public_id_of(database_url: str, title: str) -> str:
    db = Database(database_url)
    try:
        async with db.session() as session:
            found = await session.scalar(select(IncidentRow.public_id).where(IncidentRow.title == title))
    finally:
        await db.dispose()
    assert found is not None, f"no incident titled {title!r}"
    return str(found)


async def captured(database_url: str, words: str) -> None:
    """Waits until a message with `words` is stored (captured from its incident channel), or fails after a while."""
    db = Database(database_url)
    try:
        for _ in range(200):
            async with db.session() as session:
                found = await session.scalar(select(MessageRow.id).where(MessageRow.text.contains(words)))
            if found is not None:
                return
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()
    raise AssertionError(f"no captured message with {words!r}")


async def report_posted(emulator: SlackEmulator, channel: Channel) -> Message:
    """The report's summary message, once the bot has posted it (the report is stored before)."""

    def summary() -> Message | None:
        return next((m for m in channel.messages if "Post-incident report" in json.dumps(m.blocks)), None)

    await emulator.wait_for(lambda: summary() is not None, what="the report's summary message")
    found = summary()
    assert found is not None
    return found


async def reported_incident(emulator: SlackEmulator, people: People, database_url: str, title: str) -> str:
    """Alice opens an incident titled `title` and asks for its report: its public id, once the report is posted."""
    channel = await open_incident(emulator, people.alice, people.general, title)
    await run(emulator, people.alice, channel.id, "report")
    await report_posted(emulator, channel)
    return await public_id_of(database_url, title)


async def test_signing_in_through_slack_lands_on_the_incidents_list(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    await open_incident(emulator, people.alice, people.general, "Checkout is down")

    await browser.sign_in(emulator, people.alice)

    assert browser.url == f"{browser.base}{PREFIX}/incidents"
    assert "Alice Adams" in await browser.text("header.top")
    assert "Checkout is down" in await browser.all_text("#incidents .title")
    assert [c.method for c in emulator.calls if c.method.startswith("openid.")] == [
        "openid.connect.token",
        "openid.connect.userInfo",
    ]


async def test_a_page_asked_for_before_signing_in_sends_the_browser_to_the_sign_in_page(browser: Browser) -> None:
    await browser.open(f"{PREFIX}/incidents")

    assert browser.url == f"{browser.base}{PREFIX}/signin"
    assert "Sign in with Slack" in await browser.text("#sign-in")


async def test_each_page_renders_with_no_console_errors(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    public_id = await reported_incident(emulator, people, database_url, "Payments are slow")

    await browser.open(f"{PREFIX}/signin")
    signin_log = await browser.console()
    await browser.sign_in(emulator, people.alice)
    list_log = await browser.console()
    await browser.open(f"{PREFIX}/incidents/{public_id}")
    incident_log = await browser.console()
    incident_title = await browser.text("#title")
    incident_reports = await browser.count("#report-1 .markdown")
    await browser.open(f"{PREFIX}/trends")
    trends_log = await browser.console()
    await browser.open(f"{PREFIX}/runbooks")
    runbooks_log = await browser.console()

    assert severe(signin_log) == []
    assert severe(list_log) == []
    assert severe(incident_log) == []
    assert severe(trends_log) == []
    assert severe(runbooks_log) == []
    assert "Payments are slow" in incident_title
    assert incident_reports == 1


async def test_the_trends_page_draws_its_charts_for_the_incidents_opened(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    first = await open_incident(emulator, people.alice, people.general, "sev2 Queue backs up")
    await open_incident(emulator, people.alice, people.general, "sev3 Avatars blurry")
    await run(emulator, people.alice, first.id, "resolve")
    await browser.sign_in(emulator, people.alice)

    await browser.open(f"{PREFIX}/trends")
    await asyncio.to_thread(browser.driver.set_window_size, 1200, 1600)
    screenshot = await asyncio.to_thread(browser.driver.get_screenshot_as_png)

    assert severe(await browser.console()) == []
    assert await browser.count("svg#chart-severity rect.bar") == 2
    assert await browser.count("svg#chart-months rect.bar") == 12  # the default range: the last twelve months
    assert await browser.count("svg#chart-resolve circle.point") >= 1
    assert "SEV2 · Major" in await browser.run("return document.querySelector('#chart-severity').textContent")
    assert distinct_colours(screenshot) > 20  # drawn, not a blank page


def distinct_colours(png: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])


CACHE_RUNBOOK = """# Runbook: Cache <b>troubles</b>

Caches in front of <script>alert(1)</script> the catalog.

## Error: CacheStampede

## Symptoms
- Origin load jumps when a hot key expires.

## Root Causes
1. Expired Hot Key: one popular key expires and every request misses at once.
2. Cold Start: a restarted cache node starts empty.

## Remediation
Warm the cache.
"""


async def decided(database_url: str, title: str, cause: str, state: str) -> None:
    """Stores that the incident titled `title` was suggested `cause` (CacheStampede) and that it was `state` (by
    the incident's opener)."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            incident = await session.scalar(select(IncidentRow).where(IncidentRow.title == title))
            assert incident is not None
            now = datetime.now(UTC)
            session.add(
                SuggestionRow(
                    team_id=incident.team_id,
                    incident_id=incident.id,
                    runbook="Cache <b>troubles</b>",
                    runbook_path="cache.md",
                    error="CacheStampede",
                    root_cause=cause,
                    score=0.9,
                    citation="cache.md › CacheStampede",
                    evidence="[]",
                    alternatives="[]",
                    state=state,
                    posted_at=now,
                    decided_by=incident.opener_id if state != "posted" else None,
                    decided_at=now if state != "posted" else None,
                )
            )
    finally:
        await db.dispose()


async def test_the_runbooks_page_shows_each_runbook_its_lint_and_how_its_root_causes_fared(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"  # app.yaml's suggestions.runbooks, beside the test's app.yaml
    folder.mkdir()
    (folder / "cache.md").write_text(CACHE_RUNBOOK, encoding="utf-8")
    (folder / "notes.md").write_text("Just some notes, no heading.\n", encoding="utf-8")
    await open_incident(emulator, people.alice, people.general, "Catalog slow")
    await open_incident(emulator, people.alice, people.general, "Catalog slower")
    await decided(database_url, "Catalog slow", "Expired Hot Key", "accepted")
    await decided(database_url, "Catalog slower", "Expired Hot Key", "dismissed")
    await browser.sign_in(emulator, people.alice)

    await browser.open(f"{PREFIX}/runbooks")

    assert severe(await browser.console()) == []
    assert await browser.all_text(".runbook-title") == ["Cache <b>troubles</b>"]
    assert await browser.count("script") == 0
    assert await browser.count(".markdown b") == 0  # the runbook's own HTML is shown as text
    assert "notes.md" in await browser.text("#unusable")
    assert "1 runbook" in await browser.text("#lint-summary")
    rows = await browser.run(
        "return [...document.querySelectorAll('table.causes tbody tr')].map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows == [
        ["CacheStampede", "Expired Hot Key", "2", "1", "1"],
        ["CacheStampede", "Cold Start", "0", "0", "0"],
    ]


async def test_the_root_cause_filter_offers_the_accepted_causes_and_lists_their_incidents(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    await open_incident(emulator, people.alice, people.general, "Catalog slow")
    await open_incident(emulator, people.alice, people.general, "Catalog slower")
    await open_incident(emulator, people.alice, people.general, "Catalog down")
    await decided(database_url, "Catalog slow", "Expired Hot Key", "accepted")
    await decided(database_url, "Catalog slower", "Expired Hot Key", "dismissed")
    await decided(database_url, "Catalog down", "Cold Start", "accepted")
    await browser.sign_in(emulator, people.alice)

    offered = await browser.run("return [...document.querySelectorAll('#root-cause option')].map(o => o.value)")
    await browser.choose("#root-cause", "Expired Hot Key")
    await browser.click("#filter")
    listed = await browser.all_text("#incidents .title")
    causes = await browser.all_text("#incidents .root-cause")
    await browser.open(f"{PREFIX}/incidents?root_cause=Expired+Hot+Key&cursor=not-a-cursor")
    from_a_bad_cursor = await browser.all_text("#incidents .title")

    assert offered == ["", "Cold Start", "Expired Hot Key"]
    assert listed == ["Catalog slow"]
    assert causes == ["Expired Hot Key"]
    assert from_a_bad_cursor == ["Catalog slow"]  # an edited cursor starts again from the first page


async def test_an_incidents_page_shows_its_suggestions_with_who_accepted_or_dismissed_them(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    await open_incident(emulator, people.alice, people.general, "Catalog slow")
    await decided(database_url, "Catalog slow", "Expired Hot Key", "accepted")
    await decided(database_url, "Catalog slow", "Cold Start", "dismissed")
    await decided(database_url, "Catalog slow", "<i>Odd</i> cause", "posted")
    public_id = await public_id_of(database_url, "Catalog slow")
    await browser.sign_in(emulator, people.alice)

    await browser.open(f"{PREFIX}/incidents/{public_id}")

    rows = await browser.run(
        "return [...document.querySelectorAll('#suggestions tbody tr')]"
        ".map(r => [r.querySelector('.cause').firstChild.textContent, r.querySelector('.state').textContent,"
        " r.querySelector('.decided-by').textContent])"
    )
    opener = await browser.run(
        "return [...document.querySelectorAll('dl.facts dt')].find(d => d.textContent === 'Opened by')"
        ".nextElementSibling.textContent"
    )
    assert opener in ("Alice Adams", people.alice)  # her name once the bot has it, else her ID
    assert rows == [
        ["Expired Hot Key", "accepted", opener],
        ["Cold Start", "dismissed", opener],
        ["<i>Odd</i> cause", "shown in the channel", ""],
    ]
    assert await browser.count("#suggestions i") == 0
    assert severe(await browser.console()) == []


async def test_a_report_is_shown_as_html_with_its_markdown_to_download(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    public_id = await reported_incident(emulator, people, database_url, "Search returns nothing")

    await browser.sign_in(emulator, people.alice)
    await browser.open(f"{PREFIX}/incidents/{public_id}")

    assert await browser.count("#report-1 .markdown h1, #report-1 .markdown h2") > 0
    href = await browser.run("return document.querySelector('#report-1 a.download').getAttribute('href')")
    assert href == f"{PREFIX}/incidents/{public_id}/reports/1.md"


async def test_a_title_with_a_script_tag_shows_as_text_and_runs_nothing(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    title = "<script>alert(1)</script>"
    public_id = await reported_incident(emulator, people, database_url, title)  # in the report's Markdown, too

    await browser.sign_in(emulator, people.alice)
    listed = await browser.all_text("#incidents .title")
    await browser.open(f"{PREFIX}/incidents/{public_id}")

    assert title in listed
    assert await browser.text("#title") == title
    assert await browser.count("script") == 0
    assert title in await browser.text("#report-1")
    assert severe(await browser.console()) == []  # an alert would have left the page unable to answer, too


async def test_the_status_filter_lists_only_incidents_in_that_status(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    settled = await open_incident(emulator, people.alice, people.general, "Old outage")
    await open_incident(emulator, people.alice, people.general, "New outage")
    await run(emulator, people.alice, settled.id, "resolve")
    await browser.sign_in(emulator, people.alice)

    await browser.choose("#status", "resolved")
    await browser.click("#filter")

    assert await browser.all_text("#incidents .title") == ["Old outage"]
    assert "status=resolved" in browser.url


async def test_the_severity_and_active_filters_and_the_dates_list_the_right_incidents(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    settled = await open_incident(emulator, people.alice, people.general, "sev2 Queue backs up")
    await open_incident(emulator, people.alice, people.general, "sev3 Avatars blurry")
    await run(emulator, people.alice, settled.id, "resolve")
    await browser.sign_in(emulator, people.alice)
    today = datetime.now(UTC).date()

    await browser.choose("#severity", "sev2")
    await browser.click("#filter")
    major = await browser.all_text("#incidents .title")
    await browser.open(f"{PREFIX}/incidents?status=active")
    active = await browser.all_text("#incidents .title")
    await browser.open(f"{PREFIX}/incidents?from={today}&to={today}")
    opened_today = await browser.all_text("#incidents .title")
    await browser.open(f"{PREFIX}/incidents?from={today + timedelta(days=1)}")
    tomorrow = await browser.text("main")

    assert major == ["Queue backs up"]
    assert active == ["Avatars blurry"]
    assert sorted(opened_today) == ["Avatars blurry", "Queue backs up"]
    assert "No incidents match these filters" in tomorrow


async def test_searching_a_word_said_only_in_one_incidents_channel_finds_that_incident_with_the_snippet(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Checkout errors")
    await open_incident(emulator, people.alice, people.general, "Login errors")
    await emulator.post_message(people.alice, channel.id, "the flux capacitor on db-7 is overheating")
    await captured(database_url, "capacitor")
    await browser.sign_in(emulator, people.alice)

    await browser.run("document.getElementById('q').value = 'capacitor'")
    await browser.click("#filter")

    assert await browser.all_text("#incidents .title") == ["Checkout errors"]
    assert "flux capacitor on db-7" in await browser.text("#incidents .matched")
    assert "q=capacitor" in browser.url
    await browser.open(f"{PREFIX}/incidents?q=errors")
    assert sorted(await browser.all_text("#incidents .title")) == ["Checkout errors", "Login errors"]
    await browser.open(f"{PREFIX}/incidents?q=%3Cscript%3E")
    assert await browser.count("script") == 0


async def test_a_private_incidents_messages_are_never_found_by_a_non_member(
    driver: Any, tmp_path: Path, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    async with serving_web(tmp_path, emulator, database_url, private=True) as (_, base):
        await emulator.wait_idle()
        channel = await open_incident(emulator, people.alice, people.general, "Vendor contract")
        await emulator.post_message(people.alice, channel.id, "the zeppelin budget is overspent")
        await captured(database_url, "zeppelin")
        browser = Browser(driver, base)
        await driver_fresh(browser)

        await browser.sign_in(emulator, people.carol)
        await browser.open(f"{PREFIX}/incidents?q=zeppelin")
        carol = await browser.text("main")

        await driver_fresh(browser)
        await browser.sign_in(emulator, people.alice)
        await browser.open(f"{PREFIX}/incidents?q=zeppelin")
        alice = await browser.all_text("#incidents .title")

    assert "Vendor contract" not in carol
    assert "zeppelin" not in carol  # no snippet (what is typed in the search box is not page text)
    assert "No incidents match these filters" in carol
    assert alice == ["Vendor contract"]


async def test_a_private_incident_is_invisible_to_a_non_member_and_visible_to_a_member(
    driver: Any, tmp_path: Path, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    async with serving_web(tmp_path, emulator, database_url, private=True) as (_, base):
        await emulator.wait_idle()
        channel = await open_incident(emulator, people.alice, people.general, "Secret merger leak")
        assert people.carol not in channel.members
        public_id = await public_id_of(database_url, "Secret merger leak")
        browser = Browser(driver, base)
        await driver_fresh(browser)

        await browser.sign_in(emulator, people.carol)
        carol_list = await browser.text("main")
        await browser.console()
        await browser.open(f"{PREFIX}/incidents/{public_id}")
        carol_page = await browser.text("main")
        carol_console = severe(await browser.console())
        carol_status = await status_of(base, browser, f"{PREFIX}/incidents/{public_id}")

        await driver_fresh(browser)
        await browser.sign_in(emulator, people.alice)
        alice_list = await browser.all_text("#incidents .title")
        await browser.open(f"{PREFIX}/incidents/{public_id}")
        alice_title = await browser.text("#title")

    assert "Secret merger leak" not in carol_list
    assert "Not found" in carol_page
    assert "Secret merger" not in carol_page
    assert carol_status == 404
    assert any("404" in line for line in carol_console)  # the browser's log is read (and the page was a 404)
    assert alice_list == ["Secret merger leak"]
    assert alice_title == "Secret merger leak"
    asked = [c for c in emulator.calls_to("users.conversations") if c.args.get("user") == people.alice]
    assert len(asked) == 1  # her two pages, one question to Slack: remembered for the session


async def test_signing_out_needs_the_pages_form_token(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    await browser.sign_in(emulator, people.alice)
    forged = await status_of(browser.base, browser, f"{PREFIX}/logout", method="POST", data={"csrf": "guessed"})
    bare = await status_of(browser.base, browser, f"{PREFIX}/logout", method="POST")
    await browser.open(f"{PREFIX}/incidents")
    still_in = browser.url

    await browser.click("#sign-out")
    await browser.open(f"{PREFIX}/incidents")

    assert (forged, bare) == (403, 403)
    assert still_in == f"{browser.base}{PREFIX}/incidents"
    assert browser.url == f"{browser.base}{PREFIX}/signin"


async def test_every_answer_carries_strict_security_headers_and_cookies(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    emulator.sign_in_as(people.alice)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        pages = {}
        for path in ("/signin", "/incidents", "/incidents/INC-1999-001", "/nowhere"):
            async with http.get(f"{browser.base}{PREFIX}{path}", allow_redirects=False) as answer:
                pages[path] = answer.status, answer.headers
        async with http.get(f"{browser.base}{PREFIX}/login", allow_redirects=False) as login:
            signin_cookie = login.headers["Set-Cookie"]
            slack = login.headers["Location"]
        async with http.get(slack, allow_redirects=False) as authorized:
            back = authorized.headers["Location"]
        async with http.get(back, allow_redirects=False) as callback:
            session_cookie = next(v for v in callback.headers.getall("Set-Cookie") if "incident_bot_session=" in v)
            signed_in = callback.status, callback.headers["Location"]

    assert slack.startswith(emulator.authorize_url + "?")
    assert signed_in == (303, f"{PREFIX}/incidents")
    for path, (status, headers) in pages.items():
        assert status in (200, 303, 404), path
        assert "default-src 'self'" in headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "unsafe-inline" not in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert headers["Cache-Control"] == "no-store", path
    for cookie in (signin_cookie, session_cookie):
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert f"Path={PREFIX}" in cookie
        assert "Secure" not in cookie  # base_url is http here; https turns it on


async def driver_fresh(browser: Browser) -> None:
    await asyncio.to_thread(browser.driver.execute_cdp_cmd, "Network.clearBrowserCookies", {})


async def status_of(
    base: str, browser: Browser, path: str, *, method: str = "GET", data: dict[str, str] | None = None
) -> int:
    """The status the browser's session gets for a request (made with its cookies, outside the page)."""
    cookies = await asyncio.to_thread(browser.driver.get_cookies)
    jar = {c["name"]: c["value"] for c in cookies}
    async with (
        aiohttp.ClientSession(cookies=jar) as http,
        http.request(method, f"{base}{path}", data=data or {}, allow_redirects=False) as answer,
    ):
        return answer.status


async def test_the_card_and_the_report_in_slack_link_to_the_incidents_page(
    browser: Browser, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Login loops")
    public_id = await public_id_of(database_url, "Login loops")
    page = f"{browser.base}{PREFIX}/incidents/{public_id}"

    await run(emulator, people.alice, channel.id, "report")
    report = await report_posted(emulator, channel)

    assert f"<{page}|Open in the web view>" in json.dumps(card(emulator, channel)["blocks"])
    assert f"<{page}|Read it in the web view>" in json.dumps(report.blocks)

    await browser.sign_in(emulator, people.alice)
    await browser.open(page)
    assert await browser.text("#title") == "Login loops"
    assert await browser.count("#report-1") == 1


async def test_a_person_of_another_workspace_is_refused(browser: Browser, emulator: SlackEmulator) -> None:
    outsider = emulator.add_user("eve", real_name="Eve Outside")
    emulator.workspace.users[outsider].team_id = "T0ELSEWHERE"  # shared in from their own workspace

    await browser.sign_in(emulator, outsider)

    assert "another Slack workspace" in await browser.text("#problem")
    await browser.open(f"{PREFIX}/incidents")
    assert browser.url == f"{browser.base}{PREFIX}/signin"


async def test_a_sign_in_answer_that_was_not_started_in_this_browser_is_refused(
    browser: Browser, emulator: SlackEmulator, people: People
) -> None:
    emulator.sign_in_as(people.alice)

    await browser.open(f"{PREFIX}/oauth/callback?code=stolen&state=whatever")

    assert "was not started here" in await browser.text("#problem")
    assert emulator.calls_to("openid.connect.token") == []
    await browser.open(f"{PREFIX}/incidents")
    assert browser.url == f"{browser.base}{PREFIX}/signin"
