"""The bot as a new user gets it: a wheel built from this repository, installed in a fresh virtualenv, run from
folders that hold nothing of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.emulator import SlackEmulator
from tests.conftest import ROOT, People, environment
from tests.scenarios.steps import card_field, open_incident
from tests.scenarios.test_serve_process import serve_process, wait_healthy

# One worker builds and installs the wheel (the module's fixture) and runs all these tests: `pip wheel` builds in the
# repository's folder, which two builds at once would share.
pytestmark = pytest.mark.xdist_group("installed_wheel")


@dataclass(frozen=True)
class Installed:
    bin: Path

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "incident-bot"), *args],
            cwd=cwd,
            env=clean_environment(env or {}),
            capture_output=True,
            text=True,
            timeout=180,
        )


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without what would point the installed bot back at the repository or at this
    test run's virtualenv."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "INCIDENT_BOT_CONFIG", "PYTHONHOME"}
    return {name: value for name, value in os.environ.items() if name not in dropped} | extra


NOT_SOURCES = (
    ".git",
    "build",
    "dist",
    "*.egg-info",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`pip wheel` of this repository, `pip install` of that wheel (its dependencies from the package index, or
    pip's cache) into a new virtualenv."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources: setuptools builds in the source tree (`build/`), where what another build
    # (`pip install .` of .ci/run, a developer's) left made it fail with "File exists" (seen once in CI).
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source)], check=True)
    wheel = next((work / "dist").glob("incident_bot-*.whl"))
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / "bin"
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet", "install", str(wheel)],
        check=True,
        env=clean_environment({}),
    )
    return Installed(bin_dir)


def test_the_installed_wheel_has_its_own_code_not_the_repositorys(installed: Installed, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=clean_environment({}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert Path(where).is_relative_to(installed.bin.parent)


def test_the_installed_wheel_plays_the_demo_in_an_empty_folder_and_writes_the_report(
    installed: Installed, tmp_path: Path
) -> None:
    result = installed.run("demo", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "using the packaged defaults" in result.stderr
    assert result.stderr.count("using the packaged defaults") == 1
    assert "accepted *Traffic Spike* as the root cause" in result.stdout  # the packaged runbooks were read
    report = Path(result.stdout.split("The final post-incident report")[1].split("is at:")[1].split()[0])
    markdown = report.read_text(encoding="utf-8")
    assert "## 2. Root Cause" in markdown
    assert "**Traffic Spike**" in markdown
    assert list(tmp_path.iterdir()) == []  # the demo leaves the folder it runs in as it was


def test_init_in_an_empty_folder_writes_a_config_and_runbooks_that_lint_clean(
    installed: Installed, tmp_path: Path
) -> None:
    made = installed.run("init", cwd=tmp_path)
    linted = installed.run("runbooks", "lint", "runbooks", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    assert (tmp_path / "app.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "runbooks").iterdir()) == sorted(
        p.name for p in (ROOT / "runbooks").iterdir()
    )
    for step in ("incident-bot runbooks lint", "incident-bot manifest", "SLACK_BOT_TOKEN", "incident-bot serve"):
        assert step in made.stdout
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 errors" in linted.stdout


async def test_serve_in_a_folder_made_by_init_starts_with_that_folders_config(
    installed: Installed, emulator: SlackEmulator, people: People, tmp_path: Path
) -> None:
    assert installed.run("init", cwd=tmp_path).returncode == 0
    config = tmp_path / "app.yaml"
    config.write_text(config.read_text().replace('name_template: "inc-', 'name_template: "inc-ours-'))
    log = tmp_path / "serve.log"
    env = environment(emulator, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}") | {"PATH": str(installed.bin)}

    with serve_process(clean_environment(env), log, command=[str(installed.bin / "incident-bot")]) as (url, _):
        await wait_healthy(url, log, within=60)
        emulator.set_request_url(f"{url}/slack/events")
        channel = await open_incident(emulator, people.alice, people.general, "Served from an init folder")

    assert channel.name.startswith("inc-ours-")  # the folder's app.yaml, not the packaged one
    assert card_field(emulator, channel, "Opened by") == f"<@{people.alice}>"
    assert "using the packaged defaults" not in log.read_text()
