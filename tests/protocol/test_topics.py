"""Tests for protocol/topics.py: safe ids, base topics and outgoing messages."""

from __future__ import annotations

import dataclasses

import pytest

from custom_components.mqtt_fleet.protocol.topics import (
    MAX_ID_LENGTH,
    MAX_TOPIC_BYTES,
    OutgoingMessage,
    UnsafeIdError,
    base_topic_problem,
    is_safe_id,
    require_safe_id,
)

# --- is_safe_id / require_safe_id -----------------------------------------------------

SAFE_IDS = [
    "ESP32_001",
    "esp32-504d34313221267d",
    "a",
    "x" * MAX_ID_LENGTH,
    "with space",
    "dotted.name",
    "Küche-☀",
    "{device_id}",  # braces are ordinary characters in a topic level
    "devices",
    "%2F",
    # Only `.`, `..` and a leading `$` are refused: dots and dollars elsewhere are fine.
    "...",
    ".hidden",
    "dev.",
    "a$",
    "x$SYS",
]

UNSAFE_IDS = [
    "",
    "+",
    "#",
    "/",
    "a+b",
    "a#",
    "#b",
    "dev/1",
    "/dev",
    "dev/",
    "a\x00b",
    "\x00",
    "tab\there",
    "line\nbreak",
    "cr\r",
    "esc\x1b",
    "del\x7f",
    "\x1f",
    "x" * (MAX_ID_LENGTH + 1),
    # Path tricks, and the broker's reserved `$` topics.
    ".",
    "..",
    "$SYS",
    "$x",
    "$",
    "$dollar",
]


@pytest.mark.parametrize("value", SAFE_IDS)
def test_is_safe_id_accepts_one_clean_level(value: str) -> None:
    assert is_safe_id(value) is True
    assert require_safe_id(value) == value


@pytest.mark.parametrize("value", UNSAFE_IDS)
def test_is_safe_id_refuses_wildcards_separators_controls_path_tricks_and_dollar(
    value: str,
) -> None:
    assert is_safe_id(value) is False
    with pytest.raises(UnsafeIdError) as err:
        require_safe_id(value)
    assert repr(value) in str(err.value)
    assert "one topic level" in str(err.value)


@pytest.mark.parametrize("value", [None, 1, 0, 1.5, True, b"dev", ["dev"], {"id": "dev"}])
def test_is_safe_id_refuses_non_strings(value: object) -> None:
    assert is_safe_id(value) is False


def test_unsafe_id_error_names_every_rule() -> None:
    with pytest.raises(UnsafeIdError) as err:
        require_safe_id("$SYS")
    assert str(err.value) == (
        "unsafe id '$SYS': it must be one topic level of printable characters"
        " without + # /, not . or .. and not starting with $"
    )


def test_unsafe_id_error_is_a_value_error() -> None:
    assert issubclass(UnsafeIdError, ValueError)
    with pytest.raises(ValueError, match="unsafe id"):
        require_safe_id("a/b")


@pytest.mark.parametrize("value", ["a\x85b", "\x80", "dev\x9f"])
def test_is_safe_id_refuses_c1_control_characters(value: str) -> None:
    assert is_safe_id(value) is False


def test_is_safe_id_refuses_lone_surrogates() -> None:
    value = "dev\ud800"
    with pytest.raises(UnicodeEncodeError):
        value.encode("utf-8")
    assert is_safe_id(value) is False


def test_base_topic_problem_names_a_lone_surrogate_instead_of_raising() -> None:
    assert base_topic_problem("auto\ud800core") is not None


# --- base_topic_problem ---------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    [
        "autocore",
        "site-a/autocore",
        "spotfi/router",
        "a/b/c/d",
        "container-manager/logs",
        "Küche",
        "x" * (MAX_TOPIC_BYTES // 2),
    ],
)
def test_base_topic_problem_accepts_good_bases(base: str) -> None:
    assert base_topic_problem(base) is None


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("", "empty"),
        ("/autocore", "edge_slash"),
        ("autocore/", "edge_slash"),
        ("/", "edge_slash"),
        ("site-a//autocore", "empty_level"),
        ("autocore/+", "wildcard"),
        ("autocore/#", "wildcard"),
        ("auto+core", "wildcard"),
        ("auto\x00core", "control_character"),
        ("auto\ncore", "control_character"),
        ("auto\x7fcore", "control_character"),
        ("x" * (MAX_TOPIC_BYTES // 2 + 1), "too_long"),
        # The limit counts UTF-8 bytes, not characters.
        ("é" * (MAX_TOPIC_BYTES // 4 + 1), "too_long"),
    ],
)
def test_base_topic_problem_names_the_problem(base: str, problem: str) -> None:
    assert base_topic_problem(base) == problem


# --- OutgoingMessage ------------------------------------------------------------------


def test_outgoing_message_defaults_to_qos_1_not_retained() -> None:
    message = OutgoingMessage("autocore/dev/relay/0/set", b"{}")
    assert message.topic == "autocore/dev/relay/0/set"
    assert message.payload == b"{}"
    assert message.qos == 1
    assert message.retain is False


def test_outgoing_message_is_frozen_and_comparable() -> None:
    message = OutgoingMessage("t", b"p")
    assert message == OutgoingMessage("t", b"p", qos=1, retain=False)
    assert message != OutgoingMessage("t", b"p", qos=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.topic = "other"  # type: ignore[misc]
