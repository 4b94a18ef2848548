"""app.yaml and the environment in, a Config or a ConfigError that names file, line and key out."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_DATABASE_URL,
    DEFAULT_SLACK_API_URL,
    DEFAULT_TIMELINE_REACTIONS,
    ChannelSettings,
    Config,
    ConfigError,
    Secret,
    Severity,
    SlackSettings,
    TimelineSettings,
    load_config,
    mask_password,
    require_slack_credentials,
    resolve_config_path,
)
from bot.defaults import DEFAULT_APP_YAML, DEFAULT_RUNBOOKS
from tests.conftest import ROOT

SHIPPED_APP_YAML = Path(__file__).resolve().parents[2] / "app.yaml"

BOT_TOKEN = "xoxb-1111-2222-SuperSecretBotToken"
APP_TOKEN = "xapp-1-A111-2222-SuperSecretAppToken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

# A small valid file; the tests below start from it, so its line numbers are easy to follow.
MINIMAL = """\
command: /incident
severities:
  - name: sev1
    label: SEV1 · Critical
    description: Customer-facing outage
  - name: sev2
    label: SEV2 · Major
    description: Degraded service
default_severity: sev2
"""
SEVERITIES_BLOCK = MINIMAL[MINIMAL.index("severities:") : MINIMAL.index("default_severity:")]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def at(line: int, key: str) -> str:
    """A regex for the start of a message about `key` on `line` of app.yaml."""
    return rf"app\.yaml:{line}: {re.escape(key)}: "


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text), {})


# --- the shipped app.yaml ------------------------------------------------------------------------------


def test_the_shipped_app_yaml_loads_with_four_severities_and_the_incident_command() -> None:
    config = load_config(SHIPPED_APP_YAML, {})

    assert config.command == "/incident"
    assert config.severity_names == ("sev1", "sev2", "sev3", "sev4")
    assert config.severities[0].label == "SEV1 · Critical"
    assert config.severities[0].description == "Customer-facing outage or data loss"
    assert config.default_severity == "sev3"


def test_the_shipped_app_yaml_marks_with_the_five_default_reactions() -> None:
    config = load_config(SHIPPED_APP_YAML, {})

    assert config.timeline.reactions == (
        ("pushpin", "key_event"),
        ("rotating_light", "impact"),
        ("mag", "finding"),
        ("hammer_and_wrench", "action_taken"),
        ("white_check_mark", "verification"),
    )
    assert config.timeline.reactions == DEFAULT_TIMELINE_REACTIONS
    assert config.timeline.kind_for("pushpin") == "key_event"
    assert (config.timeline.confirm, config.timeline.confirm_reaction) == ("ephemeral", "ballot_box_with_check")
    assert config.timeline.show == 20


def test_the_shipped_app_yaml_spells_out_the_defaults_of_the_dataclasses() -> None:
    config = load_config(SHIPPED_APP_YAML, {})

    assert config.app_name == "incident-bot"
    assert config.channel == ChannelSettings()
    assert config.announcement_channel is None
    assert all(severity.invite == () for severity in config.severities)
    assert config.timeline == TimelineSettings()


def test_the_shipped_app_yaml_mentions_every_key_it_accepts() -> None:
    text = SHIPPED_APP_YAML.read_text(encoding="utf-8")

    keys = ["app_name", "command", "channel", "name_template", "private", "topic_template", "severities"]
    keys += ["name", "label", "description", "invite", "default_severity", "announcement_channel"]
    keys += ["timeline", "reactions", "confirm", "confirm_reaction", "show"]
    assert [key for key in keys if not re.search(rf"^\s*(- )?{key}:", text, re.MULTILINE)] == []


# --- a valid file --------------------------------------------------------------------------------------


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)

    assert config.app_name == "incident-bot"
    assert config.channel == ChannelSettings(
        name_template="inc-{year}-{number:03d}-{slug}",
        private=False,
        topic_template="{public_id} | {severity} | {status} | Commander: {commander}",
    )
    assert config.severities == (
        Severity("sev1", "SEV1 · Critical", "Customer-facing outage"),
        Severity("sev2", "SEV2 · Major", "Degraded service"),
    )
    assert config.announcement_channel is None
    assert config.timeline == TimelineSettings()
    assert config.slack == SlackSettings()
    assert config.database_url == DEFAULT_DATABASE_URL


def test_every_key_can_be_set(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        app_name: Acme Incidents
        command: /inc
        channel:
          name_template: "{severity}-{year}-{number}-{slug}"
          private: true
          topic_template: "{title} ({status})"
        severities:
          - name: p1
            label: P1
            description: Everything is down
            invite: [U012AB3CD, W0987ZYX]
        default_severity: p1
        announcement_channel: C0123ABCD
        timeline:
          reactions:
            eyes: finding
          confirm: reaction
          confirm_reaction: ok_hand
          show: 50
        """,
    )

    assert config.app_name == "Acme Incidents"
    assert config.command == "/inc"
    assert config.channel == ChannelSettings("{severity}-{year}-{number}-{slug}", True, "{title} ({status})")
    assert config.severities == (Severity("p1", "P1", "Everything is down", ("U012AB3CD", "W0987ZYX")),)
    assert config.default_severity == "p1"
    assert config.announcement_channel == "C0123ABCD"
    assert config.timeline == TimelineSettings((("eyes", "finding"),), "reaction", "ok_hand", 50)


def test_config_path_is_the_resolved_path_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)

    config = load_config(Path("app.yaml"), {})

    assert config.path == (tmp_path / "app.yaml").resolve()
    assert config.path.is_absolute()


def test_anchors_aliases_and_merge_keys_work_as_with_safe_load(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        command: /incident
        severities:
          - &major
            name: sev1
            label: Critical
            description: Outage
            invite: &oncall [U012AB3CD]
          - <<: *major
            name: sev2
            label: Major
          - name: sev3
            label: Minor
            description: Minor
            invite: *oncall
        default_severity: sev2
        """,
    )

    assert config.severities[1] == Severity("sev2", "Major", "Outage", ("U012AB3CD",))
    assert config.severities[2].invite == ("U012AB3CD",)


def test_invites_keep_their_order_and_drop_repeats(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        command: /incident
        severities:
          - name: sev1
            label: Critical
            description: Outage
            invite: [W0987ZYX, U012AB3CD, W0987ZYX]
        default_severity: sev1
        """,
    )

    assert config.severities[0].invite == ("W0987ZYX", "U012AB3CD")


# --- reading the file ----------------------------------------------------------------------------------


def test_a_missing_file_is_an_error_naming_the_path_and_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "app.yaml"

    with pytest.raises(ConfigError, match=re.escape(str(path))) as raised:
        load_config(path, {})

    assert "INCIDENT_BOT_CONFIG" in str(raised.value)
    assert "incident-bot init" in str(raised.value)


def test_a_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        command: /incident
        severities:
          - name: sev1
            label: "SEV1
        default_severity: sev1
        """,
    )

    with pytest.raises(ConfigError, match=r"app\.yaml:6: invalid YAML"):
        load_config(path, {})


def test_a_key_without_its_colon_is_a_syntax_error_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "command: /incident\nseverities\n  - name: sev1\n")

    with pytest.raises(ConfigError, match=r"app\.yaml:3: invalid YAML"):
        load_config(path, {})


def test_an_empty_file_is_an_error_saying_what_it_needs(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")

    with pytest.raises(ConfigError, match=r"app\.yaml:1: .*command, severities and default_severity"):
        load_config(path, {})


def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- command: /incident\n")

    with pytest.raises(ConfigError, match=r"app\.yaml:1: expected a mapping with keys app_name, .*got a list"):
        load_config(path, {})


def test_python_object_tags_are_rejected_like_safe_load_does(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("command: /incident", "command: !!python/object/apply:os.getcwd []"))

    with pytest.raises(ConfigError, match=at(1, "command") + "expected a slash command"):
        load_config(path, {})


# --- keys ----------------------------------------------------------------------------------------------


def test_an_unknown_key_is_an_error_naming_it_and_listing_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "app_name: bot\n" + MINIMAL.replace("command:", "comand:"))

    with pytest.raises(ConfigError, match=at(2, "comand") + "unknown key") as raised:
        load_config(path, {})

    assert 'did you mean "command"?' in str(raised.value)
    assert "expected one of app_name, command, channel, severities" in str(raised.value)


def test_an_unknown_key_inside_a_severity_is_an_error_with_its_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("    description: Degraded", "    descripton: Degraded"))

    with pytest.raises(ConfigError, match=at(8, "severities[1].descripton") + "unknown key"):
        load_config(path, {})


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "command: /inc\n")

    with pytest.raises(ConfigError, match=at(10, "command") + r"duplicate key \(first set on line 1\)"):
        load_config(path, {})


def test_a_missing_required_top_level_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("default_severity: sev2\n", ""))

    with pytest.raises(ConfigError, match=at(1, "default_severity") + "missing required top-level key"):
        load_config(path, {})


def test_a_severity_without_a_label_is_an_error_on_the_line_of_its_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("    label: SEV2 · Major\n", ""))

    with pytest.raises(ConfigError, match=at(6, "severities[1].label") + "missing required key"):
        load_config(path, {})


# --- types ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "expected"),
    [
        (
            "command: /incident",
            "command: 42",
            1,
            "command",
            r"expected a slash command .*got 42 \(a number\)",
        ),
        (SEVERITIES_BLOCK, "severities: sev1\n", 2, "severities", r'expected a list of .*got "sev1"'),
        (
            "  - name: sev1\n",
            "  - sev1\n  - name: sev1\n",
            3,
            "severities[0]",
            "expected a mapping with keys",
        ),
        ("label: SEV1 · Critical", "label: [SEV1]", 4, "severities[0].label", "expected .*got a list"),
        ("name: sev2", "name: 2", 6, "severities[1].name", r"expected a lowercase word .*got 2 \(a number\)"),
        (
            "default_severity: sev2",
            "default_severity:",
            9,
            "default_severity",
            r"expected .*got nothing \(null\)",
        ),
    ],
    ids=["command-number", "severities-string", "severity-string", "label-list", "name-int", "default-null"],
)
def test_a_value_of_the_wrong_type_is_an_error_saying_what_was_expected(
    tmp_path: Path, old: str, new: str, line: int, key: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(old, new, 1))

    with pytest.raises(ConfigError, match=at(line, key) + expected):
        load_config(path, {})


def test_a_string_where_the_invite_list_belongs_is_an_error_saying_a_list_is_expected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace("    description: Degraded service\n", "    description: x\n    invite: U012AB3CD\n"),
    )

    with pytest.raises(ConfigError, match=at(9, "severities[1].invite") + r'expected a list .*got "U012AB3CD"'):
        load_config(path, {})


@pytest.mark.parametrize(("value", "got"), [('"no"', '"no"'), ("1", r"1 \(a number\)"), ("[]", "a list")])
def test_channel_private_must_be_true_or_false(tmp_path: Path, value: str, got: str) -> None:
    path = write(tmp_path, f"channel:\n  private: {value}\n" + MINIMAL)

    with pytest.raises(ConfigError, match=at(2, "channel.private") + f"expected true or false, got {got}"):
        load_config(path, {})


def test_channel_as_a_list_is_an_error_saying_a_mapping_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "channel: [private]\n")

    with pytest.raises(ConfigError, match=at(10, "channel") + "expected a mapping with keys name_template"):
        load_config(path, {})


# --- values --------------------------------------------------------------------------------------------


def test_a_severity_name_with_upper_case_is_an_error_naming_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("name: sev2", "name: Sev 2"))

    with pytest.raises(ConfigError, match=at(6, "severities[1].name") + 'expected a lowercase word like "sev2"'):
        load_config(path, {})


@pytest.mark.parametrize(
    "command",
    ["incident", "/Incident", "/incident open", "/", "/" + "x" * 32],
    ids=["no-slash", "upper-case", "space", "slash-only", "too-long"],
)
def test_a_command_that_slack_would_refuse_is_an_error(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, MINIMAL.replace("command: /incident", f'command: "{command}"'))

    with pytest.raises(ConfigError, match=at(1, "command") + r'expected a slash command like "/incident"'):
        load_config(path, {})


def test_a_command_of_exactly_32_characters_is_accepted(tmp_path: Path) -> None:
    command = "/" + "x" * 31

    config = load(tmp_path, MINIMAL.replace("command: /incident", f"command: {command}"))

    assert config.command == command


def test_an_app_name_longer_than_35_characters_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "app_name: " + "a" * 36 + "\n")

    with pytest.raises(ConfigError, match=at(10, "app_name") + "expected at most 35 characters.*got 36"):
        load_config(path, {})


def test_a_label_longer_than_75_characters_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("label: SEV2 · Major", "label: " + "L" * 76))

    with pytest.raises(ConfigError, match=at(7, "severities[1].label") + "expected at most 75 characters"):
        load_config(path, {})


def test_an_empty_severity_list_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "command: /incident\nseverities: []\ndefault_severity: sev1\n")

    with pytest.raises(ConfigError, match=at(2, "severities") + "expected at least one severity"):
        load_config(path, {})


def test_a_duplicate_severity_name_is_an_error_naming_the_first_one(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("name: sev2", "name: sev1"))

    with pytest.raises(
        ConfigError,
        match=at(6, "severities[1].name") + r'duplicate severity "sev1" \(already defined on line 3\)',
    ):
        load_config(path, {})


def test_a_default_severity_not_in_the_list_is_an_error_listing_the_names(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("default_severity: sev2", "default_severity: sev3"))

    with pytest.raises(
        ConfigError,
        match=at(9, "default_severity") + r'expected one of the severity names \(sev1, sev2\), got "sev3"',
    ):
        load_config(path, {})


@pytest.mark.parametrize("user", ["@alice", "alice", "u012ab3cd", "C012AB3CD", "U1"])
def test_an_invite_that_is_not_a_user_id_is_an_error_naming_its_index(tmp_path: Path, user: str) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace(
            "    description: Degraded service\n",
            f'    description: Degraded service\n    invite:\n      - U012AB3CD\n      - "{user}"\n',
        ),
    )

    with pytest.raises(
        ConfigError, match=at(11, "severities[1].invite[1]") + 'expected a Slack user ID like "U012AB3CD"'
    ):
        load_config(path, {})


@pytest.mark.parametrize("channel", ['"#incidents"', "incidents", "D012AB3CD", "c012ab3cd"])
def test_an_announcement_channel_that_is_not_a_channel_id_is_an_error(tmp_path: Path, channel: str) -> None:
    path = write(tmp_path, MINIMAL + f"announcement_channel: {channel}\n")

    with pytest.raises(ConfigError, match=at(10, "announcement_channel") + "expected null or a Slack channel ID"):
        load_config(path, {})


@pytest.mark.parametrize(("value", "expected"), [("null", None), ("", None), ("G0123ABCD", "G0123ABCD")])
def test_an_announcement_channel_may_be_null_or_a_channel_id(tmp_path: Path, value: str, expected: str | None) -> None:
    config = load(tmp_path, MINIMAL + f"announcement_channel: {value}\n")

    assert config.announcement_channel == expected


def test_a_multi_line_description_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("description: Degraded service", "description: |\n      one\n      two"))

    with pytest.raises(ConfigError, match=at(8, "severities[1].description") + "expected a single line"):
        load_config(path, {})


# --- templates -----------------------------------------------------------------------------------------


def test_a_name_template_without_a_number_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'channel:\n  name_template: "inc-{year}-{slug}"\n' + MINIMAL)

    with pytest.raises(ConfigError, match=at(2, "channel.name_template") + r"must contain the \{number\}"):
        load_config(path, {})


def test_a_name_template_with_an_unknown_placeholder_is_an_error_listing_the_known_ones(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, 'channel:\n  name_template: "inc-{number}-{team}"\n' + MINIMAL)

    with pytest.raises(
        ConfigError,
        match=at(2, "channel.name_template")
        + r"unknown placeholder \{team\}; expected only \{year\}, \{number\}, \{slug\}, \{severity\}",
    ):
        load_config(path, {})


@pytest.mark.parametrize(
    "template", ["inc-{number:s}", "inc-{number", "inc-{}-{number}", "inc-{number!x}", "inc-{number.real}"]
)
def test_a_name_template_that_does_not_format_is_an_error(tmp_path: Path, template: str) -> None:
    path = write(tmp_path, f'channel:\n  name_template: "{template}"\n' + MINIMAL)

    with pytest.raises(ConfigError, match=at(2, "channel.name_template")):
        load_config(path, {})


def test_a_name_template_that_cannot_make_a_slack_channel_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'channel:\n  name_template: "INC {number}"\n' + MINIMAL)

    with pytest.raises(
        ConfigError,
        match=at(2, "channel.name_template") + "expected a template that makes a valid Slack channel name.*'INC 7'",
    ):
        load_config(path, {})


def test_a_topic_template_with_an_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'channel:\n  topic_template: "{public_id} {slug}"\n')

    with pytest.raises(
        ConfigError,
        match=at(11, "channel.topic_template") + r"unknown placeholder \{slug\}; expected only \{public_id\}",
    ):
        load_config(path, {})


def test_a_topic_template_may_use_literal_braces(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL + 'channel:\n  topic_template: "{{{status}}} {title}"\n')

    assert config.channel.topic_template == "{{{status}}} {title}"


# --- timeline ------------------------------------------------------------------------------------------


def test_a_custom_reactions_map_keeps_the_order_it_is_written_in(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        MINIMAL
        + "timeline:\n"
        + "  reactions:\n"
        + "    white_check_mark: verification\n"
        + "    pushpin: key_event\n"
        + "    round_pushpin: key_event\n"
        + "    eyes: finding\n",
    )

    assert config.timeline.reactions == (
        ("white_check_mark", "verification"),
        ("pushpin", "key_event"),
        ("round_pushpin", "key_event"),
        ("eyes", "finding"),
    )
    assert config.timeline.kinds == ("verification", "key_event", "finding")
    assert config.timeline.kind_for("mag") is None


def test_emoji_names_that_yaml_reads_as_numbers_or_booleans_count_by_their_text(tmp_path: Path) -> None:
    config = load(
        tmp_path, MINIMAL + "timeline:\n  reactions:\n    +1: verification\n    100: impact\n    on: finding\n"
    )

    assert config.timeline.reactions == (("+1", "verification"), ("100", "impact"), ("on", "finding"))
    assert config.timeline.kind_for("+1::skin-tone-3") == "verification"


def test_the_timeline_section_is_optional_key_by_key(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL + "timeline:\n  show: 5\n")

    assert config.timeline == TimelineSettings(show=5)


@pytest.mark.parametrize("written", ['":pushpin:"', ":pushpin:"], ids=["quoted", "plain"])
def test_an_emoji_written_with_colons_is_an_error_saying_to_drop_them(tmp_path: Path, written: str) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  reactions:\n    mag: finding\n    {written}: key_event\n")

    with pytest.raises(
        ConfigError,
        match=at(13, "timeline.reactions") + 'expected an emoji name without colons: drop them and write "pushpin"',
    ):
        load_config(path, {})


def test_an_emoji_with_a_skin_tone_is_an_error_asking_for_the_base_emoji(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'timeline:\n  reactions:\n    "+1::skin-tone-2": verification\n')

    with pytest.raises(
        ConfigError, match=at(12, "timeline.reactions") + 'expected the emoji without a skin tone: write "\\+1"'
    ):
        load_config(path, {})


@pytest.mark.parametrize("emoji", ['"Pushpin"', '"push pin"', "1.5", "[pushpin]"])
def test_an_emoji_name_slack_would_not_have_is_an_error(tmp_path: Path, emoji: str) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  reactions:\n    {emoji}: key_event\n")

    with pytest.raises(ConfigError, match=at(12, "timeline.reactions") + "expected emoji names as keys"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("kind", "got"),
    [
        ("Key_Event", '"Key_Event"'),
        ("key-event", '"key-event"'),
        ("1st_thing", '"1st_thing"'),
        ("yes", r"yes \(a boolean\)"),
        ("", r"nothing \(null\)"),
        ("k" * 65, '"k'),
    ],
    ids=["upper-case", "hyphen", "digit-first", "boolean", "null", "too-long"],
)
def test_a_kind_that_is_not_a_lowercase_word_is_an_error_naming_its_emoji(tmp_path: Path, kind: str, got: str) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  reactions:\n    pushpin: key_event\n    mag: {kind}\n")

    with pytest.raises(
        ConfigError, match=at(13, "timeline.reactions.mag") + r"expected a kind of timeline event: .*got " + got
    ):
        load_config(path, {})


@pytest.mark.parametrize(
    ("value", "got"), [("{}", "an empty mapping"), ("", r"nothing \(null\)"), ("[pushpin]", "a list")]
)
def test_empty_reactions_are_an_error(tmp_path: Path, value: str, got: str) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  reactions: {value}\n")

    with pytest.raises(ConfigError, match=at(11, "timeline.reactions") + r"expected .*, got " + got):
        load_config(path, {})


def test_the_same_emoji_twice_is_an_error_naming_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'timeline:\n  reactions:\n    +1: verification\n    "+1": key_event\n')

    with pytest.raises(ConfigError, match=at(13, "timeline.reactions.+1") + r"duplicate key \(first set on line 12\)"):
        load_config(path, {})


@pytest.mark.parametrize("confirm", ["ephemeral", "reaction", "none"])
def test_confirm_may_be_ephemeral_reaction_or_none(tmp_path: Path, confirm: str) -> None:
    config = load(tmp_path, MINIMAL + f"timeline:\n  confirm: {confirm}\n")

    assert config.timeline.confirm == confirm


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("off", r'got off \(a boolean\): YAML reads off as false; to confirm nothing, write "none"'),
        ("no", r'got no \(a boolean\): YAML reads no as false; to confirm nothing, write "none"'),
        ("~", r'got nothing \(null\); to confirm nothing, write "none"'),
        ("null", r'got nothing \(null\); to confirm nothing, write "none"'),
        ("yes", r"got yes \(a boolean\)"),
        ("Ephemeral", r'got "Ephemeral" \(did you mean "ephemeral"\?\)'),
        ("reactions", r'got "reactions" \(did you mean "reaction"\?\)'),
        ("2", r"got 2 \(a number\)"),
    ],
    ids=["off", "no", "tilde", "null", "yes", "capitalised", "plural", "number"],
)
def test_a_confirm_that_is_not_one_of_the_three_is_an_error_listing_them(
    tmp_path: Path, value: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  confirm: {value}\n")

    with pytest.raises(
        ConfigError, match=at(11, "timeline.confirm") + r'expected one of "ephemeral", "reaction", "none", ' + expected
    ):
        load_config(path, {})


def test_a_confirm_reaction_with_colons_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'timeline:\n  confirm: reaction\n  confirm_reaction: ":eyes:"\n')

    with pytest.raises(
        ConfigError,
        match=at(12, "timeline.confirm_reaction") + 'expected an emoji name without colons: drop them and write "eyes"',
    ):
        load_config(path, {})


def test_a_confirm_reaction_that_also_marks_is_an_error_when_the_bot_confirms_by_reaction(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "timeline:\n  confirm: reaction\n  confirm_reaction: pushpin\n")

    with pytest.raises(
        ConfigError, match=at(12, "timeline.confirm_reaction") + '"pushpin" also marks messages as key_event'
    ):
        load_config(path, {})


@pytest.mark.parametrize(("show", "expected"), [("1", 1), ("50", 50), ("0x10", 16)])
def test_show_accepts_whole_numbers_from_1_to_50(tmp_path: Path, show: str, expected: int) -> None:
    config = load(tmp_path, MINIMAL + f"timeline:\n  show: {show}\n")

    assert config.timeline.show == expected


@pytest.mark.parametrize(
    ("show", "got"),
    [
        ("0", "0"),
        ("51", "51"),
        ("-3", "-3"),
        ("true", r"true \(a boolean\)"),
        ("20.0", r"20\.0 \(a number\)"),
        ('"20"', '"20"'),
        ("", r"nothing \(null\)"),
    ],
    ids=["zero", "over-slack-limit", "negative", "boolean", "float", "string", "null"],
)
def test_a_show_that_is_not_a_whole_number_from_1_to_50_is_an_error(tmp_path: Path, show: str, got: str) -> None:
    path = write(tmp_path, MINIMAL + f"timeline:\n  show: {show}\n")

    with pytest.raises(
        ConfigError, match=at(11, "timeline.show") + "expected a whole number from 1 to 50 .*got " + got + "$"
    ):
        load_config(path, {})


def test_an_unknown_timeline_key_is_an_error_suggesting_the_closest_one(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "timeline:\n  show: 10\n  reaction:\n    pushpin: key_event\n")

    with pytest.raises(ConfigError, match=at(12, "timeline.reaction") + "unknown key") as raised:
        load_config(path, {})

    assert 'did you mean "reactions"?' in str(raised.value)
    assert "expected one of reactions, confirm, confirm_reaction, show" in str(raised.value)


def test_a_timeline_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "timeline: [pushpin]\n")

    with pytest.raises(ConfigError, match=at(10, "timeline") + "expected a mapping with keys reactions, confirm"):
        load_config(path, {})


# --- the environment -----------------------------------------------------------------------------------


def test_an_empty_environment_gives_no_secrets_and_the_default_urls(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {})

    assert config.slack == SlackSettings(None, None, None, DEFAULT_SLACK_API_URL)
    assert config.database_url == "sqlite+aiosqlite:///incident-bot.db"


def test_slack_variables_become_secrets(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,
    }

    config = load_config(write(tmp_path, MINIMAL), environ)

    assert config.slack.bot_token == Secret(BOT_TOKEN)
    assert config.slack.signing_secret == Secret(SIGNING_SECRET)
    assert config.slack.app_token == Secret(APP_TOKEN)
    assert config.slack.socket_mode


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    environ = {"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "", "DATABASE_URL": ""}

    config = load_config(write(tmp_path, MINIMAL), environ)

    assert config.slack == SlackSettings()
    assert config.database_url == DEFAULT_DATABASE_URL


def test_only_the_given_environment_is_read_never_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("DATABASE_URL", "mysql://localhost/db")

    config = load_config(write(tmp_path, MINIMAL), {})

    assert config.slack.bot_token is None
    assert config.database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8080/api", "http://localhost:8080/api/"),
        ("https://slack.example.com/api/", "https://slack.example.com/api/"),
    ],
)
def test_slack_api_url_always_ends_with_a_slash(tmp_path: Path, url: str, expected: str) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"SLACK_API_URL": url})

    assert config.slack.api_url == expected


@pytest.mark.parametrize("url", ["ftp://slack.com/api/", "slack.com/api", "https://", "http://[::1/api"])
def test_a_slack_api_url_that_is_not_http_is_an_error_naming_the_variable(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"^SLACK_API_URL: expected an http\(s\) URL"):
        load_config(write(tmp_path, MINIMAL), {"SLACK_API_URL": url})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///incident-bot.db", "sqlite+aiosqlite:///incident-bot.db"),
        ("sqlite:////var/lib/bot.db", "sqlite+aiosqlite:////var/lib/bot.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u:p@db:5432/bot", "postgresql+asyncpg://u:p@db:5432/bot"),
        ("postgresql://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
        ("postgresql+psycopg2://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
        ("postgresql+asyncpg://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
    ],
)
def test_database_url_is_normalised_to_an_async_driver(tmp_path: Path, url: str, expected: str) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"DATABASE_URL": url})

    assert config.database_url == expected


@pytest.mark.parametrize(
    "url", ["mysql://bot:hunter2@db/bot", "bot:hunter2@db/bot", "postgresql+pg8000://bot:hunter2@db/bot"]
)
def test_an_unsupported_database_url_is_an_error_listing_what_is_supported_with_the_password_masked(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL: unsupported database URL") as raised:
        load_config(write(tmp_path, MINIMAL), {"DATABASE_URL": url})

    message = str(raised.value)
    assert "hunter2" not in message
    assert "bot:***@db/bot" in message
    assert "sqlite://, sqlite+aiosqlite://, postgres://, postgresql://" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:se/cr@t@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("sqlite:///incident-bot.db", "sqlite:///incident-bot.db"),
    ],
)
def test_mask_password_hides_only_the_password(url: str, expected: str) -> None:
    assert mask_password(url) == expected


@pytest.mark.parametrize(
    ("variable", "value", "prefix"),
    [
        ("SLACK_BOT_TOKEN", APP_TOKEN, "xoxb-"),
        ("SLACK_BOT_TOKEN", "xoxp-1111-SuperSecretUserToken", "xoxb-"),
        ("SLACK_BOT_TOKEN", "SuperSecretWithoutPrefix", "xoxb-"),
        ("SLACK_APP_TOKEN", BOT_TOKEN, "xapp-"),
    ],
    ids=["app-token-as-bot-token", "user-token", "no-prefix", "bot-token-as-app-token"],
)
def test_a_token_with_the_wrong_prefix_is_an_error_naming_the_variable_but_never_the_token(
    tmp_path: Path, variable: str, value: str, prefix: str
) -> None:
    with pytest.raises(ConfigError, match=rf'^{variable}: expected .*starts with "{prefix}"') as raised:
        load_config(write(tmp_path, MINIMAL), {variable: value})

    assert value not in str(raised.value)
    assert "SuperSecret" not in str(raised.value)
    assert "SuperSecret" not in repr(raised.value)


def test_tokens_never_appear_in_the_repr_or_str_of_a_config(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "DATABASE_URL": "postgresql://bot:hunter2@db/bot",
    }

    config = load_config(write(tmp_path, MINIMAL), environ)

    for text in (repr(config), str(config), repr(config.slack), str(config.slack.bot_token)):
        for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, "hunter2"):
            assert secret not in text
    assert "postgresql+asyncpg://bot:***@db/bot" in repr(config)


def test_an_error_about_one_token_shows_none_of_the_secrets(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "oops",
    }

    with pytest.raises(ConfigError, match=r"^SLACK_APP_TOKEN: ") as raised:
        load_config(write(tmp_path, MINIMAL), environ)

    for secret in (BOT_TOKEN, SIGNING_SECRET, "oops"):
        assert secret not in str(raised.value)


# --- require_slack_credentials -------------------------------------------------------------------------


def slack_config(bot_token: str = "", signing_secret: str = "", app_token: str = "") -> Config:
    def secret(value: str) -> Secret | None:
        return Secret(value) if value else None

    slack = SlackSettings(
        bot_token=secret(bot_token), signing_secret=secret(signing_secret), app_token=secret(app_token)
    )
    return Config(path=Path("app.yaml"), slack=slack)


def test_http_mode_with_a_bot_token_and_signing_secret_is_enough() -> None:
    config = slack_config(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)

    require_slack_credentials(config)


def test_http_mode_without_credentials_lists_both_variables() -> None:
    config = slack_config()

    with pytest.raises(ConfigError, match="HTTP mode: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET") as raised:
        require_slack_credentials(config)

    assert "SLACK_APP_TOKEN" in str(raised.value)  # the way to Socket Mode


def test_http_mode_without_a_signing_secret_names_only_it_and_not_the_token() -> None:
    config = slack_config(bot_token=BOT_TOKEN)

    with pytest.raises(ConfigError, match="HTTP mode: set SLACK_SIGNING_SECRET in") as raised:
        require_slack_credentials(config)

    assert BOT_TOKEN not in str(raised.value)


def test_socket_mode_needs_a_bot_token() -> None:
    config = slack_config(app_token=APP_TOKEN)

    with pytest.raises(ConfigError, match=r"Socket Mode \(SLACK_APP_TOKEN is set\): set SLACK_BOT_TOKEN") as raised:
        require_slack_credentials(config)

    assert APP_TOKEN not in str(raised.value)


def test_socket_mode_needs_no_signing_secret() -> None:
    config = slack_config(app_token=APP_TOKEN, bot_token=BOT_TOKEN)

    require_slack_credentials(config)


# --- resolve_config_path -------------------------------------------------------------------------------


def test_the_config_path_comes_from_incident_bot_config_when_set() -> None:
    assert resolve_config_path({"INCIDENT_BOT_CONFIG": "/etc/incident-bot/app.yaml"}) == Path(
        "/etc/incident-bot/app.yaml"
    )


@pytest.mark.parametrize("environ", [{}, {"INCIDENT_BOT_CONFIG": ""}])
def test_the_config_path_defaults_to_app_yaml_in_the_working_directory(
    environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.yaml").write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert resolve_config_path(environ) == Path("app.yaml")


def test_without_an_app_yaml_here_the_packaged_defaults_are_used_and_one_log_line_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level("INFO", logger="bot.config")

    path = resolve_config_path({})
    config = load_config(path, {})

    assert path == DEFAULT_APP_YAML
    assert config.suggestions.runbooks == DEFAULT_RUNBOOKS
    assert config.command == "/incident"
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1
    assert "using the packaged defaults" in said[0]
    assert "incident-bot init" in said[0]


def test_an_app_yaml_link_here_that_leads_nowhere_is_reported_not_replaced_by_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.yaml").symlink_to(tmp_path / "gone.yaml")
    monkeypatch.chdir(tmp_path)

    path = resolve_config_path({})

    assert path == Path("app.yaml")
    with pytest.raises(ConfigError, match=r"config file not found: app\.yaml"):
        load_config(path, {})


def test_a_config_file_named_in_incident_bot_config_that_does_not_exist_is_an_error_not_the_defaults(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "etc" / "app.yaml"

    path = resolve_config_path({"INCIDENT_BOT_CONFIG": str(missing)})

    assert path == missing
    with pytest.raises(ConfigError, match=r"config file not found: .*incident-bot init"):
        load_config(path, {})


def test_the_packaged_defaults_are_the_repositorys_app_yaml_and_runbooks() -> None:
    # The root app.yaml and runbooks are links into bot/defaults: a clone works as before, and the wheel carries
    # them (installed, the package's copies are what this compares with).
    runbooks = {path.name: path.read_bytes() for path in (ROOT / "runbooks").glob("*.md")}

    assert DEFAULT_APP_YAML.read_bytes() == (ROOT / "app.yaml").read_bytes()
    assert {path.name: path.read_bytes() for path in DEFAULT_RUNBOOKS.glob("*.md")} == runbooks
    assert len(runbooks) > 1


def test_suggestions_default_to_the_runbooks_folder_beside_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)

    assert config.suggestions.enabled is True
    assert config.suggestions.runbooks == (tmp_path / "runbooks").resolve()
    assert config.suggestions.min_interval_seconds == 300


def test_suggestions_can_point_elsewhere_and_be_throttled_or_turned_off(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        MINIMAL + "suggestions:\n  enabled: false\n  runbooks: /srv/runbooks\n  min_interval_seconds: 60\n",
    )

    assert (config.suggestions.enabled, config.suggestions.min_interval_seconds) == (False, 60)
    assert config.suggestions.runbooks == Path("/srv/runbooks")


def test_a_negative_suggestion_interval_is_an_error_naming_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"app\.yaml:11: suggestions\.min_interval_seconds: expected a whole number"):
        load(tmp_path, MINIMAL + "suggestions:\n  min_interval_seconds: -5\n")


# --- roles and the update cadence ------------------------------------------------------------------------

ROLES = """\
roles:
  - name: comms
    label: Communications lead
    description: Talks to stakeholders
  - name: scribe
    label: Scribe
    description: Keeps the timeline
"""


def test_the_shipped_app_yaml_has_comms_scribe_and_sme_roles_and_cadences_for_sev1_and_sev2() -> None:
    config = load_config(SHIPPED_APP_YAML, {})

    assert [r.name for r in config.roles] == ["comms", "scribe", "sme"]
    assert [r.name for r in config.all_roles] == ["commander", "comms", "scribe", "sme"]
    assert config.roles[0].label == "Communications lead"
    assert [s.update_every_minutes for s in config.severities] == [30, 60, None, None]


def test_roles_are_read_in_order_and_found_by_name_whatever_the_case(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL + ROLES)

    assert [(r.name, r.label) for r in config.roles] == [("comms", "Communications lead"), ("scribe", "Scribe")]
    role = config.role(" Comms ")
    assert role is not None
    assert role.description == "Talks to stakeholders"
    assert config.role("chef") is None


def test_without_roles_the_commander_is_the_only_role(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)

    assert config.roles == ()
    assert [r.name for r in config.all_roles] == ["commander"]


def test_roles_may_be_null_or_empty(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL + "roles: null\n").roles == ()
    assert load(tmp_path, MINIMAL + "roles: []\n").roles == ()


@pytest.mark.parametrize(
    ("role", "line", "key", "problem"),
    [
        (
            "  - name: commander\n    label: Lead\n    description: x\n",
            11,
            "roles[0].name",
            "commander role always exists",
        ),
        ("  - name: none\n    label: Nobody\n    description: x\n", 11, "roles[0].name", "pick another"),
        (
            "  - name: Comms\n    label: Comms\n    description: x\n",
            11,
            "roles[0].name",
            'a lowercase word like "comms"',
        ),
        ("  - name: comms\n    label: Comms\n", 11, "roles[0].description", "missing required key"),
        ("  - name: comms\n    label: ''\n    description: x\n", 12, "roles[0].label", "got an empty string"),
        ("  - name: comms\n    label: " + "x" * 76 + "\n    description: x\n", 12, "roles[0].label", "at most 75"),
        ("  - name: comms\n    label: C\n    description: x\n    invite: []\n", 14, "roles[0].invite", "unknown key"),
        ("  - comms\n", 11, "roles[0]", "expected a mapping with keys name, label, description"),
    ],
)
def test_a_wrong_role_names_its_line_and_key(tmp_path: Path, role: str, line: int, key: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=at(line, key) + f".*{re.escape(problem)}"):
        load(tmp_path, MINIMAL + "roles:\n" + role)


def test_a_duplicate_role_names_both_lines(tmp_path: Path) -> None:
    text = MINIMAL + ROLES + "  - name: comms\n    label: Again\n    description: x\n"

    with pytest.raises(ConfigError, match=at(17, "roles[2].name") + r'duplicate role "comms" .*line 11'):
        load(tmp_path, text)


def test_roles_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=at(10, "roles") + "expected a list of roles"):
        load(tmp_path, MINIMAL + "roles: comms\n")


def test_more_than_twenty_roles_are_refused_at_the_twenty_first(tmp_path: Path) -> None:
    many = "".join(f"  - name: r{n}\n    label: R{n}\n    description: x\n" for n in range(21))

    with pytest.raises(ConfigError, match=at(11 + 3 * 20, "roles[20]") + "at most 20 roles"):
        load(tmp_path, MINIMAL + "roles:\n" + many)


def test_a_severity_may_have_an_update_cadence_in_minutes(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    description: Customer-facing outage\n",
        "    description: Customer-facing outage\n    update_every_minutes: 30\n",
    )
    config = load(tmp_path, text)

    assert [s.update_every_minutes for s in config.severities] == [30, None]


@pytest.mark.parametrize("value", ["0", "10081", "'30'", "30.5", "true", "[30]"])
def test_a_wrong_update_cadence_names_its_line(tmp_path: Path, value: str) -> None:
    text = MINIMAL.replace(
        "    description: Degraded service\n", f"    description: Degraded service\n    update_every_minutes: {value}\n"
    )

    with pytest.raises(ConfigError, match=at(9, "severities[1].update_every_minutes") + "expected null .*1 to 10080"):
        load(tmp_path, text)


def test_a_null_update_cadence_means_none(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    description: Degraded service\n", "    description: Degraded service\n    update_every_minutes: null\n"
    )

    assert load(tmp_path, text).severities[1].update_every_minutes is None


# --- archiving ------------------------------------------------------------------------------------------------


def test_archiving_is_off_unless_app_yaml_says_after_how_many_days(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)

    assert config.archive.enabled is False
    assert config.archive.after_days is None


def test_archiving_after_some_days_waits_for_followups_unless_told_not_to(tmp_path: Path) -> None:
    waiting = load(tmp_path, MINIMAL + "archive:\n  after_days: 7\n")
    not_waiting = load(tmp_path, MINIMAL + "archive:\n  after_days: 30\n  wait_for_followups: false\n")

    assert (waiting.archive.enabled, waiting.archive.after_days, waiting.archive.wait_for_followups) == (True, 7, True)
    assert (not_waiting.archive.after_days, not_waiting.archive.wait_for_followups) == (30, False)


@pytest.mark.parametrize("days", ["0", "366", "1.5", '"7"'])
def test_an_archiving_delay_out_of_range_or_not_whole_is_an_error_naming_file_line_and_key(
    tmp_path: Path, days: str
) -> None:
    with pytest.raises(ConfigError, match=r"app\.yaml:11: archive\.after_days: expected null \(never\) or a whole"):
        load(tmp_path, MINIMAL + f"archive:\n  after_days: {days}\n")


def test_an_unknown_archiving_key_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r'app\.yaml:11: archive\.after_day: unknown key \(did you mean "after_days"\?\)'
    ):
        load(tmp_path, MINIMAL + "archive:\n  after_day: 7\n")
