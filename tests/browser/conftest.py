"""Browser tests: the web view in headless Chromium (Debian's `chromium` and `chromium-driver`), driven by Selenium.

The bot and the Slack emulator run in the test's event loop on loopback, as in the scenario tests; the browser is a
real one, in its own process. Selenium's calls block, so each is made in a thread (`Browser`), leaving the loop free
to answer the browser. Without chromium or chromedriver the tests skip, saying why, unless INCIDENT_BOT_REQUIRE_BROWSER
is set (as in CI): then they fail.

The web view reads incidents through the same storage as the rest of the bot, whose queries are tested on SQLite and
PostgreSQL elsewhere; these tests run on SQLite only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import SlackEmulator
from bot.slack.manifest import build_manifest
from tests.conftest import ROOT, environment, free_socket, write_config

REQUIRE_VARIABLE = "INCIDENT_BOT_REQUIRE_BROWSER"
PREFIX = "/web"


def browser_required() -> bool:
    return os.environ.get(REQUIRE_VARIABLE, "") not in ("", "0", "false")


def _missing() -> str | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver (chromium-driver)", driver)) if not path]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def driver() -> Iterator[Any]:
    """One headless Chromium for the session (each test starts with no cookies)."""
    reason = _missing()
    if reason is not None:
        if browser_required():
            pytest.fail(f"{REQUIRE_VARIABLE} is set but {reason}")
        pytest.skip(f"browser tests need a browser: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-proxy-server"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver Debian installs, named explicitly: selenium-manager never looks for (or downloads) one.
    chrome = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


@dataclass
class Browser:
    """The browser, seen from async tests: every Selenium call runs in a thread, so the bot keeps answering."""

    driver: Any
    base: str  # the bot's URL

    async def open(self, path: str) -> None:
        await asyncio.to_thread(self.driver.get, path if path.startswith("http") else self.base + path)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    async def text(self, css: str = "body") -> str:
        from selenium.webdriver.common.by import By

        return str(await asyncio.to_thread(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text))

    async def all_text(self, css: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return await asyncio.to_thread(lambda: [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)])

    async def count(self, css: str) -> int:
        from selenium.webdriver.common.by import By

        return len(await asyncio.to_thread(self.driver.find_elements, By.CSS_SELECTOR, css))

    async def click(self, css: str) -> None:
        """Clicks the element at `css`, which loads another page (a form's button, a link), and returns once that
        page has loaded: WebDriver's click does not always wait for a form's submission. (30 s guards against a
        hang; it is not a timed assertion.)"""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        def click_and_settle() -> None:
            page = self.driver.find_element(By.TAG_NAME, "html")
            self.driver.find_element(By.CSS_SELECTOR, css).click()
            WebDriverWait(self.driver, 30).until(expected_conditions.staleness_of(page))
            WebDriverWait(self.driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")

        await asyncio.to_thread(click_and_settle)

    async def choose(self, css: str, value: str) -> None:
        """Picks the option with `value` in the <select> at `css`."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        await asyncio.to_thread(lambda: Select(self.driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value))

    async def run(self, script: str) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script)

    async def console(self) -> list[dict[str, Any]]:
        """What the page logged to the console (and the browser's own errors: failed loads, CSP refusals) since
        last asked."""
        return list(await asyncio.to_thread(self.driver.get_log, "browser"))

    async def sign_in(self, emulator: SlackEmulator, user: str) -> None:
        """Through the sign-in page, Slack's (the emulator's) authorize page, and back."""
        emulator.sign_in_as(user)
        await self.open(f"{PREFIX}/signin")
        await self.click("#sign-in")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'incident-bot.db'}"


WEB_SECTION = """
web:
  enabled: true
  path_prefix: {prefix}
  base_url: {base}
"""


def web_config(tmp_path: Path, emulator: SlackEmulator, database_url: str, base: str, *, private: bool) -> Config:
    """The repository's app.yaml with the web view on at `base` (and incident channels private, if asked)."""
    text = (ROOT / "app.yaml").read_text(encoding="utf-8")
    text = text[: text.index("\nweb:\n")] + WEB_SECTION.format(prefix=PREFIX, base=base)
    if private:
        text = text.replace("  private: false", "  private: true")
    env = environment(
        emulator,
        database_url,
        SLACK_CLIENT_ID=emulator.openid.client_id,
        SLACK_CLIENT_SECRET=emulator.openid.client_secret,
    )
    return load_config(write_config(tmp_path, text), env)


@asynccontextmanager
async def serving_web(
    tmp_path: Path, emulator: SlackEmulator, database_url: str, *, private: bool = False
) -> AsyncIterator[tuple[IncidentBot, str]]:
    """The bot with its web view, on loopback, the emulator delivering to it: (the bot, its URL). The port is taken
    first, because the web view's base_url (where Slack sends browsers back) must name it."""
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = web_config(tmp_path, emulator, database_url, base, private=private)
    emulator.install(build_manifest(config))
    incident_bot = IncidentBot(config)
    await incident_bot.start()
    runner = incident_bot.web_runner()
    await runner.setup()
    await web.SockSite(runner, sock).start()
    emulator.set_request_url(f"{base}/slack/events")
    try:
        yield incident_bot, base
    finally:
        await emulator.wait_idle()
        await runner.cleanup()
        await incident_bot.close()


@pytest.fixture
async def site(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> AsyncIterator[str]:
    """The bot's URL, web view on, incident channels public."""
    async with serving_web(tmp_path, emulator, database_url) as (_, base):
        yield base


@pytest.fixture
async def browser(driver: Any, site: str) -> Browser:
    await asyncio.to_thread(driver.execute_cdp_cmd, "Network.clearBrowserCookies", {})  # of every site
    await asyncio.to_thread(driver.get_log, "browser")  # what earlier tests left
    return Browser(driver, site)
