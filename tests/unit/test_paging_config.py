"""app.yaml's `paging` section and each severity's `page` list: services paged through PagerDuty or Opsgenie, whose
keys come from environment variables that app.yaml names."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import (
    DEFAULT_OPSGENIE_API_URL,
    DEFAULT_PAGERDUTY_EVENTS_URL,
    OPSGENIE,
    PAGERDUTY,
    ConfigError,
    PagingSettings,
    Secret,
    load_config,
    require_paging_keys,
)
from tests.unit.test_config import SHIPPED_APP_YAML

PAGING = """\
command: /incident
paging:
  services:
    - name: payments
      pagerduty_routing_key_env: PAGERDUTY_KEY_PAYMENTS
    - name: platform
      opsgenie_api_key_env: OPSGENIE_KEY_PLATFORM
severities:
  - name: sev1
    label: SEV1
    description: Outage
    page: [payments, platform, payments]
  - name: sev2
    label: SEV2
    description: Degraded
default_severity: sev2
"""
KEYS = {"PAGERDUTY_KEY_PAYMENTS": "0123456789abcdef0123456789abcdef", "OPSGENIE_KEY_PLATFORM": "genie-secret"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ or {})
    return str(caught.value)


def test_services_and_the_severities_that_page_them_are_read_with_their_keys_from_the_environment(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, PAGING), KEYS)

    payments, platform = config.paging.services
    assert (payments.name, payments.provider, payments.key_variable) == (
        "payments",
        PAGERDUTY,
        "PAGERDUTY_KEY_PAYMENTS",
    )
    assert payments.key == Secret(KEYS["PAGERDUTY_KEY_PAYMENTS"])
    assert (platform.provider, platform.key) == (OPSGENIE, Secret("genie-secret"))
    assert config.severities[0].page == ("payments", "platform")  # a repeat is dropped
    assert config.severities[1].page == ()
    assert (config.paging.pagerduty_url, config.paging.opsgenie_url) == (
        DEFAULT_PAGERDUTY_EVENTS_URL,
        DEFAULT_OPSGENIE_API_URL,
    )
    assert config.paging.service("Payments") is payments


def test_without_a_paging_section_nothing_pages(tmp_path: Path) -> None:
    config = load_config(SHIPPED_APP_YAML, {})

    assert config.paging == PagingSettings()
    assert not config.paging.enabled
    assert all(severity.page == () for severity in config.severities)


def test_the_providers_base_urls_come_from_the_environment(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, PAGING),
        {**KEYS, "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:9999/", "OPSGENIE_API_URL": "http://127.0.0.1:9998"},
    )

    assert config.paging.pagerduty_url == "http://127.0.0.1:9999"
    assert config.paging.opsgenie_url == "http://127.0.0.1:9998"


def test_a_base_url_that_is_not_http_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, PAGING, {"PAGERDUTY_EVENTS_URL": "events.pagerduty.com"})

    assert message.startswith("PAGERDUTY_EVENTS_URL: expected an http(s) URL")


def test_the_keys_never_show_in_the_configs_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PAGING), KEYS)

    assert KEYS["PAGERDUTY_KEY_PAYMENTS"] not in repr(config)
    assert "genie-secret" not in repr(config)


def test_a_severity_paging_an_unknown_service_is_an_error_on_its_line_with_a_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, PAGING.replace("page: [payments, platform, payments]", "page: [paymnets]"))

    assert re.match(r".*app\.yaml:12: severities\[0\]\.page\[0\]: expected one of the names of services", message)
    assert '(did you mean "payments"?)' in message


def test_a_severity_that_pages_without_any_paging_service_is_an_error_saying_where_to_add_them(
    tmp_path: Path,
) -> None:
    text = PAGING[: PAGING.index("paging:")] + PAGING[PAGING.index("severities:") :]

    message = error_of(tmp_path, text)

    assert "app.yaml:6: severities[0].page[0]: no paging services are configured" in message
    assert "paging.services" in message


def test_a_service_needs_exactly_one_provider(tmp_path: Path) -> None:
    both = PAGING.replace(
        "      pagerduty_routing_key_env: PAGERDUTY_KEY_PAYMENTS\n",
        "      pagerduty_routing_key_env: PAGERDUTY_KEY_PAYMENTS\n      opsgenie_api_key_env: OPSGENIE_KEY\n",
    )
    neither = PAGING.replace("      pagerduty_routing_key_env: PAGERDUTY_KEY_PAYMENTS\n", "")

    assert "app.yaml:4: paging.services[0]: expected exactly one of" in error_of(tmp_path, both)
    assert "got both" in error_of(tmp_path, both)
    assert "got neither" in error_of(tmp_path, neither)


def test_a_key_written_in_app_yaml_instead_of_a_variable_name_is_refused_without_showing_it(tmp_path: Path) -> None:
    message = error_of(tmp_path, PAGING.replace("PAGERDUTY_KEY_PAYMENTS", "0123456789abcdef0123456789abcdef"))

    assert "app.yaml:5: paging.services[0].pagerduty_routing_key_env: expected the NAME" in message
    assert "0123456789abcdef" not in message


def test_a_service_named_twice_is_an_error_naming_the_first_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, PAGING.replace("name: platform", "name: payments"))

    assert 'app.yaml:6: paging.services[1].name: duplicate service "payments" (already defined on line 4)' in message


def test_an_unknown_key_in_a_service_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, PAGING.replace("pagerduty_routing_key_env:", "pagerduty_routing_key:"))

    assert "paging.services[0].pagerduty_routing_key: unknown key" in message


def test_paging_needs_at_least_one_service(tmp_path: Path) -> None:
    text = "command: /incident\npaging:\n  services: []\n" + PAGING[PAGING.index("severities:") :].replace(
        "    page: [payments, platform, payments]\n", ""
    )

    assert "app.yaml:3: paging.services: expected a list of services" in error_of(tmp_path, text)


def test_a_key_variable_not_set_stops_serve_naming_it_and_its_service(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PAGING), {"PAGERDUTY_KEY_PAYMENTS": KEYS["PAGERDUTY_KEY_PAYMENTS"]})

    with pytest.raises(ConfigError) as caught:
        require_paging_keys(config)

    assert "set OPSGENIE_KEY_PLATFORM (service platform, Opsgenie) in the environment" in str(caught.value)
    assert "PAGERDUTY_KEY_PAYMENTS" not in str(caught.value)


def test_serve_exits_2_before_serving_when_a_paging_key_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, PAGING)
    environ = {"INCIDENT_BOT_CONFIG": str(path), "SLACK_BOT_TOKEN": "xoxb-1-2-3", "SLACK_SIGNING_SECRET": "shh"}

    code = main(["serve", "--port", "0"], environ=environ)

    assert code == 2
    assert "PAGERDUTY_KEY_PAYMENTS" in capsys.readouterr().err


def test_with_every_key_set_serve_may_start(tmp_path: Path) -> None:
    require_paging_keys(load_config(write(tmp_path, PAGING), KEYS))


def test_the_shipped_app_yaml_shows_the_page_key_on_every_severity_and_documents_paging() -> None:
    text = SHIPPED_APP_YAML.read_text(encoding="utf-8")

    assert len(re.findall(r"^    page: \[\]$", text, re.MULTILINE)) == 4
    for key in ("paging:", "services:", "pagerduty_routing_key_env", "opsgenie_api_key_env", "PAGERDUTY_EVENTS_URL"):
        assert re.search(rf"^#.*{key}", text, re.MULTILINE), key
