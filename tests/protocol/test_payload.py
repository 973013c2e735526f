"""Tests for protocol/payload.py: size, UTF-8, strict JSON, typed field reads, display text."""

from __future__ import annotations

import sys
import unicodedata

import orjson
import pytest

from custom_components.mqtt_fleet.protocol import payload as payload_module
from custom_components.mqtt_fleet.protocol.payload import (
    MAX_PAYLOAD_BYTES,
    FieldReader,
    InvalidMessage,
    decode_json,
    decode_json_object,
    display_text,
    json_type,
    looks_numeric,
)


def _padded_object(size: int) -> bytes:
    """Return a valid JSON object of exactly `size` bytes (padding is trailing whitespace)."""
    body = b'{"status":"online"}'
    return body + b" " * (size - len(body))


# --- decode_json ----------------------------------------------------------------------


def test_max_payload_is_64_kib() -> None:
    assert MAX_PAYLOAD_BYTES == 65536


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"a": 1, "b": [true, null, "x"]}', {"a": 1, "b": [True, None, "x"]}),
        (b"[1, 2.5]", [1, 2.5]),
        (b'"text"', "text"),
        (b"42", 42),
        (b"null", None),
        (b"false", False),
        ('{"name": "Küche ☀"}'.encode(), {"name": "Küche ☀"}),
        (b'{\n  "a": 1,\n  "b": {\n    "c": 2\n  }\n}\n', {"a": 1, "b": {"c": 2}}),
    ],
)
def test_decode_json_accepts_any_json_value(payload: bytes, expected: object) -> None:
    assert decode_json(payload) == expected


def test_decode_json_repeated_key_keeps_the_last_value() -> None:
    payload = b'{"timestamp": "1970-01-01T00:00:05Z", "x": 1, "timestamp": "2025-08-11T17:30:00Z"}'
    assert decode_json(payload) == {"x": 1, "timestamp": "2025-08-11T17:30:00Z"}


def test_decode_json_exactly_64_kib_is_allowed() -> None:
    payload = _padded_object(MAX_PAYLOAD_BYTES)
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert decode_json(payload) == {"status": "online"}


def test_decode_json_one_byte_over_64_kib_is_refused() -> None:
    payload = _padded_object(MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(InvalidMessage) as err:
        decode_json(payload)
    assert err.value.reason == "payload of 65537 bytes exceeds 64 KiB"


def test_decode_json_size_is_checked_before_parsing() -> None:
    # Oversized garbage is refused for its size, not for its syntax.
    with pytest.raises(InvalidMessage) as err:
        decode_json(b"\xff" * (MAX_PAYLOAD_BYTES * 2))
    assert "exceeds 64 KiB" in err.value.reason


@pytest.mark.parametrize(
    "payload",
    [
        b'{"temperature": NaN}',
        b'{"temperature": Infinity}',
        b'{"temperature": -Infinity}',
        b"NaN",
        b'{"temperature": 1e400}',
        b'{"temperature": -1e400}',
        b"[1E400]",
    ],
)
def test_decode_json_refuses_nan_and_infinity(payload: bytes) -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json(payload)
    assert err.value.reason == "payload contains NaN or Infinity"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe{}",
        b'{"name": "\xc3\x28"}',  # invalid two-byte sequence
        b'{"name": "\xed\xa0\x80"}',  # UTF-8 encoded surrogate
        '{"name": "caf\xe9"}'.encode("latin-1"),
    ],
)
def test_decode_json_refuses_non_utf8(payload: bytes) -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json(payload)
    assert err.value.reason == "payload is not valid UTF-8"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   ",
        b"{",
        b'{"a": 1,}',
        b"{'a': 1}",
        b'{"a": 1} trailing',
        b"online",
        b'{"a": 01}',
        b"\xef\xbb\xbf{}",  # UTF-8 byte order mark
        b'"\\ud800"',  # lone surrogate escape
    ],
)
def test_decode_json_refuses_invalid_json(payload: bytes) -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json(payload)
    assert err.value.reason.startswith("invalid JSON (")
    assert err.value.reason.endswith(")")
    # The parser's position detail ("line 1 column ...") is cut off.
    assert "line" not in err.value.reason


# Two arrays nested 900 levels deep: valid JSON of 3.6 KiB that orjson 3.11 and later fails
# to allocate for.
DEEP = b"[" * 900 + b"]" * 900
TWO_DEEP_VALUES = b'{\n  "element": ' + DEEP + b',\n  "action": ' + DEEP + b"\n}"


def test_deep_document_orjson_cannot_allocate_for_is_decoded() -> None:
    value = decode_json(TWO_DEEP_VALUES)
    assert isinstance(value, dict)
    assert list(value) == ["element", "action"]
    depth, item = 0, value["action"]
    while item:
        (item,) = item
        depth += 1
    assert depth == 899


@pytest.fixture
def orjson_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson refuses every document for want of memory: Python's parser decides alone."""

    def refuse(payload: bytes) -> object:
        raise orjson.JSONDecodeError("memory allocation failed: line 1 column 1 (char 0)", "", 0)

    monkeypatch.setattr(payload_module.orjson, "loads", refuse)


@pytest.mark.usefixtures("orjson_out_of_memory")
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b"18446744073709551615", 18446744073709551615),
        (b"18446744073709551616", 1.8446744073709552e19),
        (b"-9223372036854775808", -9223372036854775808),
        (b"-9223372036854775809", -9.223372036854776e18),
        (b'{"a": 1, "a": 2}', {"a": 2}),
    ],
)
def test_python_parser_reads_by_orjson_rules(payload: bytes, expected: object) -> None:
    value = decode_json(payload)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.usefixtures("orjson_out_of_memory")
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"a": NaN}', "payload contains NaN or Infinity"),
        (b'{"a": -Infinity}', "payload contains NaN or Infinity"),
        (b'{"a": 1e400}', "payload contains NaN or Infinity"),
        (b'{"a": ["\\ud800"]}', "invalid JSON (lone surrogate)"),
        (b'{"\\udc00": 1}', "invalid JSON (lone surrogate)"),
        (b"[" * 10_000, None),
        (b'{"a" 1}', None),
        (b"\xef\xbb\xbf{}", None),
        (b'{"a": "\xff"}', "payload is not valid UTF-8"),
    ],
)
def test_python_parser_refuses_what_orjson_refuses(payload: bytes, reason: str | None) -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json(payload)
    if reason is None:  # the detail in brackets is the parser's own text
        assert err.value.reason.startswith("invalid JSON (")
    else:
        assert err.value.reason == reason


def test_invalid_json_reason_is_not_blamed_on_a_string_that_mentions_infinity() -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json(b'{"address": "1 Infinity Loop", "room": "NaN",}')
    assert err.value.reason.startswith("invalid JSON")


def test_invalid_message_keeps_its_reason() -> None:
    err = InvalidMessage("state: missing")
    assert err.reason == "state: missing"
    assert str(err) == "state: missing"
    assert isinstance(err, Exception)


def test_decode_json_object_returns_the_object() -> None:
    assert decode_json_object(b'{"status": "online", "n": 1.5}') == {"status": "online", "n": 1.5}


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"[]", "array"),
        (b'"online"', "string"),
        (b"1", "number"),
        (b"2.5", "number"),
        (b"true", "boolean"),
        (b"null", "null"),
    ],
)
def test_decode_json_object_refuses_other_values(payload: bytes, kind: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json_object(payload)
    assert err.value.reason == f"expected a JSON object, got {kind}"


def test_decode_json_object_passes_decode_errors_through() -> None:
    with pytest.raises(InvalidMessage) as err:
        decode_json_object(b"\xff")
    assert err.value.reason == "payload is not valid UTF-8"


# --- json_type and looks_numeric ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "number"),
        (-3, "number"),
        (2.5, "number"),
        ("", "string"),
        ("1", "string"),
        ([], "array"),
        ([1], "array"),
        ({}, "object"),
        ({"a": 1}, "object"),
    ],
)
def test_json_type(value: object, expected: str) -> None:
    assert json_type(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25.6", True),
        ("-3", True),
        ("1e3", True),
        (" 7 ", True),
        ("nan", True),
        ("inf", True),
        ("", False),
        ("abc", False),
        ("25,6", False),
        ("on", False),
        ("%!f(<nil>)", False),
    ],
)
def test_looks_numeric(text: str, *, expected: bool) -> None:
    assert looks_numeric(text) is expected


# --- FieldReader ----------------------------------------------------------------------


def test_field_reader_reads_good_fields_without_problems() -> None:
    fields = FieldReader(
        {
            "n_int": 3,
            "n_float": -2.5,
            "whole": 7.0,
            "s": "text",
            "empty": "",
            "b_true": True,
            "b_false": False,
            "o": {"x": 1},
        }
    )
    assert fields.number("n_int") == 3
    assert type(fields.number("n_int")) is int
    assert fields.number("n_float") == -2.5
    assert fields.integer("n_int") == 3
    assert fields.integer("whole") == 7
    assert type(fields.integer("whole")) is int
    assert fields.string("s") == "text"
    assert fields.string("empty") == ""
    assert fields.boolean("b_true") is True
    assert fields.boolean("b_false") is False
    assert fields.obj("o") == {"x": 1}
    assert fields.problems == []


@pytest.mark.parametrize(
    "method", ["number", "integer", "string", "display_string", "boolean", "obj"]
)
def test_field_reader_missing_and_null_read_as_none_without_problem(method: str) -> None:
    fields = FieldReader({"present_null": None})
    assert getattr(fields, method)("present_null") is None
    assert getattr(fields, method)("absent") is None
    assert fields.problems == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "v: expected a number, got boolean"),
        (False, "v: expected a number, got boolean"),
        ("25.6", "v: number sent as a string"),
        ("-1", "v: number sent as a string"),
        ("NaN", "v: number sent as a string"),
        ("abc", "v: expected a number, got string"),
        ("%!f(<nil>)", "v: expected a number, got string"),
        ([1], "v: expected a number, got array"),
        ({"a": 1}, "v: expected a number, got object"),
    ],
)
def test_field_reader_number_refuses_wrong_types(value: object, problem: str) -> None:
    fields = FieldReader({"v": value, "good": 1.5})
    assert fields.number("v") is None
    assert fields.number("good") == 1.5
    assert fields.problems == [problem]


@pytest.mark.parametrize(
    ("value", "minimum", "problem"),
    [
        (2.5, 0, "v: expected a whole number >= 0"),
        (-1, 0, "v: expected a whole number >= 0"),
        (0, 1, "v: expected a whole number >= 1"),
        (-0.5, 0, "v: expected a whole number >= 0"),
        (True, 0, "v: expected a number, got boolean"),
        ("3600", 0, "v: number sent as a string"),
    ],
)
def test_field_reader_integer_refuses_bad_values(value: object, minimum: int, problem: str) -> None:
    fields = FieldReader({"v": value})
    assert fields.integer("v", minimum=minimum) is None
    assert fields.problems == [problem]


@pytest.mark.parametrize(("value", "minimum"), [(0, 0), (1, 1), (5.0, 1), (-3, -5)])
def test_field_reader_integer_accepts_the_minimum_and_above(value: float, minimum: int) -> None:
    fields = FieldReader({"v": value})
    assert fields.integer("v", minimum=minimum) == int(value)
    assert fields.problems == []


@pytest.mark.parametrize(
    ("method", "value", "problem"),
    [
        ("string", 1, "v: expected a string, got number"),
        ("string", True, "v: expected a string, got boolean"),
        ("string", ["a"], "v: expected a string, got array"),
        ("display_string", 1, "v: expected a string, got number"),
        ("display_string", {"t": "x"}, "v: expected a string, got object"),
        ("boolean", 1, "v: expected a boolean, got number"),
        ("boolean", 0, "v: expected a boolean, got number"),
        ("boolean", "true", "v: expected a boolean, got string"),
        ("boolean", "1", "v: expected a boolean, got string"),
        ("obj", [], "v: expected an object, got array"),
        ("obj", "{}", "v: expected an object, got string"),
        ("obj", 3, "v: expected an object, got number"),
    ],
)
def test_field_reader_other_reads_refuse_wrong_types(
    method: str, value: object, problem: str
) -> None:
    fields = FieldReader({"v": value})
    assert getattr(fields, method)("v") is None
    assert fields.problems == [problem]


def test_field_reader_collects_every_problem_in_order() -> None:
    fields = FieldReader({"a": "1", "b": True, "c": 2})
    assert fields.number("a") is None
    assert fields.string("b") is None
    assert fields.boolean("c") is None
    assert fields.problems == [
        "a: number sent as a string",
        "b: expected a string, got boolean",
        "c: expected a boolean, got number",
    ]


def test_field_reader_display_string_reads_display_text_without_problem() -> None:
    fields = FieldReader({"name": " board\x1b[31m 7\x1b[0m\n", "hidden": "\u200b\x1b[0m", "e": ""})
    assert fields.display_string("name") == "board 7"
    assert fields.display_string("hidden") is None
    assert fields.display_string("e") is None
    assert fields.problems == []


# --- display_text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("board\x1b[31m 7\x1b[0m\nX", "board 7 X"),
        ("\x1b[1;38;5;196mred\x1b[m", "red"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear the screen, cursor home
        ("\x1b[?25lhidden cursor", "hidden cursor"),
        ("\x1b]0;new window title\x07name", "name"),  # OSC ended by BEL
        ("\x1b]0;new window title\x1b\\name", "name"),  # OSC ended by ST
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # a hyperlink
        ("name\x1b]0;never ended", "name"),
        ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),  # DCS, a control string like OSC
        ("\x1b(Bcharset\x1bc reset\x1b7", "charset reset"),  # short ESC sequences
        ("cut\x1b[31", "cut31"),  # a CSI without its final byte loses only ESC [
        ("lone\x1b", "lone"),
        ("\u202eevil.exe", "evil.exe"),  # bidi override
        ("a\u2066b\u2067c\u2068d\u2069e", "abcde"),  # bidi isolates
        ("\u200eleft\u200fright\u061c", "leftright"),  # bidi marks
        ("zero\u200bwidth\u200c\u200d\u2060joiners\ufeff", "zerowidthjoiners"),
        ("soft\u00adhyphen", "softhyphen"),
        ("tag\U000e0041\U000e007f", "tag"),  # Unicode tag characters
        ("nul\x00del\x7fc1\x9b", "nuldelc1"),
        ("  tab\tand\r\n\vnew   lines  ", "tab and new lines"),
        ("odd\u00a0spaces\u2003\u3000here\u2028\u2029\x85end", "odd spaces here end"),
        ("a \x00 b", "a b"),  # no double space where a control was
        # Visible text is kept as sent.
        ("Küche", "Küche"),
        ("e\u0301", "e\u0301"),  # a combining accent
        ("温度センサー 🚀", "温度センサー 🚀"),
        ("1.2.0-rc1+build.5", "1.2.0-rc1+build.5"),
        ("<b>&amp;</b> {{ x }} [31m", "<b>&amp;</b> {{ x }} [31m"),  # no ESC: just text
    ],
)
def test_display_text_keeps_only_what_shows(value: str, expected: str) -> None:
    assert display_text(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "\n\t\r",
        "\x00",
        "\x1b[0m",
        "\x1b]0;title\x07",
        "\u202e",
        "\u200b\ufeff\u2060",
        "\x1b[31m \n",
    ],
)
def test_display_text_with_nothing_to_show_is_none(value: str) -> None:
    assert display_text(value) is None


def _code_points(*categories: str) -> list[str]:
    return [
        char
        for char in map(chr, range(sys.maxunicode + 1))
        if unicodedata.category(char) in categories
    ]


def test_display_text_drops_every_control_and_format_character_of_this_python() -> None:
    """The module lists them for speed; Python's own Unicode data is the reference."""
    for char in _code_points("Cc", "Cf"):  # é: after ESC, no escape sequence goes on
        assert display_text(f"a{char}é") == ("a é" if char.isspace() else "aé"), hex(ord(char))


def test_display_text_keeps_every_other_character() -> None:
    shown = "".join(
        char
        for char in map(chr, range(sys.maxunicode + 1))
        if unicodedata.category(char) not in ("Cc", "Cf", "Cs") and not char.isspace()
    )
    assert display_text(shown) == shown


def test_display_text_is_stable() -> None:
    once = display_text(" \x1b[1mA\u202e  b\x1b]0;t\x07\n\u200bc ")
    assert once == "A b c"
    assert display_text(once) == once
