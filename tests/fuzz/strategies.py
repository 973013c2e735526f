"""Hostile MQTT messages for every family, each carrying its expected classification.

How they are drawn
------------------
A seeded `random.Random` drives small composable draw functions with the shape of a
hypothesis strategy (`Random -> value`). Hypothesis itself is not used to draw: a fuzz run
is 100k messages per family, hypothesis's engine draws one example at a time (a few
thousand a second, `.example()` is neither fast nor reproducible), and its shrinking would
not help: every message is reproducible from the family's seed and its index, and a
failure prints the message itself. The seeded stream draws tens of thousands of messages
a second, so generation never dominates a run, and CI draws the same stream every time.

The oracle
----------
Every message is built so that its classification is known by construction from the wire
contract (docs/protocols.md and the README's "Bad input"), never by asking the code:

- UNDELIVERED: its topic matches none of the family's subscription filters (written here
  from the contract's topic tables and checked by an MQTT matcher of our own), or its topic
  bytes are not UTF-8 (HA's MQTT layer drops those with a warning). The hub never sees it.
- INVALID: delivered, and it breaks the contract somewhere. The hub counts it exactly once,
  however many problems it has. It is either rejected whole (no effects), or partly invalid:
  its only fault is one field that the rest does not depend on, and the other fields still
  apply (README: "in a message with one bad field the other fields still apply"); the
  oracle then applies the effects of the message with that field removed. Which fields a
  message cannot do without (a relay's `state`, a log's `message` and `level`, ...) is
  written in each template's `Field` specs.
- VALID: delivered and clean; its effects apply.
- IGNORED: delivered with an empty payload (how a retained message is cleared): counted as
  received, never as invalid, and it changes nothing.

The contract, made exact for the oracle:

- A JSON null reads as "not reported", like a missing key (one exception: a status message
  without a `status` key is a problem, one with `"status": null` is not).
- A number is a finite JSON number: booleans and numeric strings are wrong types. NaN,
  Infinity and numbers that overflow a double (1e400, 10**400) make the payload invalid JSON.
- A whole number has no fraction (`12.0` counts), from its minimum to 2**63-1, what the
  devices' encoders can send; timestamps in epoch milliseconds end at the year 9999.
- Text values are free text of any length (a state shows the first 255 characters). Text
  that becomes a device's name or firmware (AutoCore `firmware_version` and `board_id`,
  Janus `version_string`) is display text: escape sequences and control and format
  characters dropped, whitespace runs made one space, the ends trimmed; text with nothing
  left is not reported (`DISPLAYED` spells out what that makes of each drawn text).
- A safe id is one printable topic level of 1 to 128 characters without `+ # /`, not `.`
  or `..` and not starting with `$`; anything else (empty, NUL, controls, zero-width or
  bidi marks, 129+ characters, path tricks, the broker's `$SYS`) is unsafe, and a
  message naming an unsafe id is rejected whole. Every level below the base of every scheme
  is an id or a fixed word, so a delivered topic with an empty or unsafe level is invalid.
- A payload is at most 64 KiB of UTF-8 JSON, nested at most 1000 levels (RFC 8259 section 9
  lets a parser limit depth: 900 levels stay valid, 10,000 are refused); an escaped lone
  surrogate (`"\\ud800"`) is not Unicode text and is refused.
- Fields the integration does not read (a payload's `device_id`, `timestamp`, ...) may hold
  any JSON: hostile content there keeps a message valid.
- No valid message says `offline`: the fuzz checks that hostile input never takes a good
  value or a device's availability away, so offline is left to the availability tests.

Per family (what a template's `effects` encode):

- AutoCore: telemetry keys other than the known ones become sensors when numeric and named
  `[A-Za-z0-9_.-]{1,64}`; a numeric string or a numeric value under another name is a
  problem; other values there are ignored. Display and system messages take any JSON
  (display: any object) and only make the board seen.
- AutoCore: an uptime in a live status or telemetry dates the last restart (see the model
  in test_fuzz.py); the firmware version is device information, not a value. An address is
  shown trimmed; an empty or unspecified one (`0.0.0.0`) shows nothing, and in an online
  status turns an address shown before unknown.
- Janus: a server's (re)connect status hides its session count until list_sessions answers.
- Janus, SpotFi: admin replies, RPC results and terminal output nobody waits for change
  nothing, but their faults still count. SpotFi's free memory above total is a problem
  (free is dropped); a failed `system info` (Go's `%!f(<nil>)` uptime, zero total) is no
  problem: CPU and memory turn unknown. A router is connected once a heartbeat came.
- Container logs: the payload's level counts (warning and fatal are warn and error); each
  valid entry of a batch counts even when others are refused, and a count that disagrees
  with the entries is a problem.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
import ipaddress
import json
import math
import random
from typing import Any, Final

type Json = Any
type Obj = dict[str, Json]

PAYLOAD_LIMIT: Final = 64 * 1024
MEBIBYTE: Final = 1024 * 1024
MAX_WHOLE: Final = 2**63 - 1
MAX_TIMESTAMP_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
STATE_LENGTH: Final = 255


class Expect(Enum):
    """What must happen to a message (see the module docstring)."""

    VALID = "valid"
    INVALID = "invalid"
    IGNORED = "ignored"
    UNDELIVERED = "undelivered"


@dataclass(frozen=True, slots=True)
class Effect:
    """A change the contract says a delivered message makes.

    `key` None: the device is seen (it exists from now on). For container logs `key` is the
    log level counted and `value` the log's message. `if_shown`: the value changes only if
    the device has one already (an address turning unknown). `hides`: the value stays, its
    entity is unavailable until a value is set again (a Janus count after a reconnect).
    """

    device: str
    key: str | None = None
    value: Json = None
    if_shown: bool = False
    hides: bool = False


@dataclass(frozen=True, slots=True)
class Fuzzed:
    """One message to deliver, with what must come of it."""

    topic: bytes
    payload: bytes
    qos: int
    expect: Expect
    attack: str  # the kind of input, for failure messages and the report
    effects: tuple[Effect, ...] = ()
    partial: bool = False  # invalid, but its other fields apply

    def describe(self) -> str:
        """Name the message in a failure message."""
        return (
            f"{self.attack}: expected {self.expect.value}{' (partial)' if self.partial else ''}"
            f" on {self.topic[:120]!r}, payload {self.payload[:200]!r}"
            f"{' ...' if len(self.payload) > 200 else ''} ({len(self.payload)} bytes)"
        )


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Tell whether an MQTT topic filter matches a topic (MQTT 3.1.1 section 4.7)."""
    levels = topic.split("/")
    filter_levels = topic_filter.split("/")
    for index, wanted in enumerate(filter_levels):
        if wanted == "#":
            return True  # also matches the parent level
        if index >= len(levels) or (wanted not in ("+", levels[index])):
            return False
    return len(levels) == len(filter_levels)


# --- JSON text ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text spliced in as is: NaN, 10**400, 10,000 brackets, invalid UTF-8."""

    text: bytes


def encode(rng: random.Random, value: Json) -> bytes:
    """Encode as a device might: compact, spaced, pretty, ASCII-escaped or Go-escaped."""
    raws: list[bytes] = []

    def splice(raw: object) -> str:
        if not isinstance(raw, Raw):
            raise TypeError(raw)
        raws.append(raw.text)
        return f"\x00{len(raws) - 1}\x00"

    style = rng.randrange(4)
    text = json.dumps(
        value,
        default=splice,
        ensure_ascii=style in (1, 3),
        indent=2 if style == 2 else None,
        separators=(",", ":") if style in (0, 3) else None,
        sort_keys=style == 3,
    )
    if style == 3:  # spotfi-bridge-go escapes <, > and & (only strings hold them)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    payload = text.encode("utf-8")
    for index, raw in enumerate(raws):
        payload = payload.replace(b'"\\u0000%d\\u0000"' % index, raw, 1)
    return payload


# --- hostile building blocks ---------------------------------------------------------------

TEXT: Final[tuple[str, ...]] = (
    "Küche",
    "温度センサー",
    "🚀🔥",
    "e\u0301",  # combining accent
    "\u202eevil",  # bidi override
    "nul\u0000inside",
    "x" * STATE_LENGTH,
    "y" * (STATE_LENGTH + 1),
    "z" * 5000,
    "'; DROP TABLE states; --",
    "<script>alert(1)</script>",
    "{{ states('sensor.x') }}",
    "%!f(<nil>)",
    '"quoted" \\ back',
    "line\nbreak\ttab",
    "",
    " ",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07alert",  # ANSI colours and a window title
)
# The display text of each TEXT entry it changes (None: nothing is left to show).
DISPLAYED: Final[dict[str, str | None]] = {
    "\u202eevil": "evil",
    "nul\u0000inside": "nulinside",
    "line\nbreak\ttab": "line break tab",
    "": None,
    " ": None,
    "\x1b[31mred\x1b[0m \x1b]0;title\x07alert": "red alert",
}
ODD_SAFE_IDS: Final[tuple[str, ...]] = (
    "esp32-küche",
    "板01",
    "🚀",
    "i" * 128,
    "dev 1",
    "dev.1",
    "ﷺ" * 16,  # each one slugifies to 17 characters
    "-",
    "0",
    "\U0001d518\U0001d52b\U0001d526",  # mathematical letters, outside the BMP
    "...",  # only `.` and `..` are path tricks
    "x$SYS",  # only a leading `$` is the broker's
)
UNSAFE_IDS: Final[tuple[str, ...]] = (
    "",
    "+",
    "#",
    "a+b",
    "a#b",
    "a\x00b",
    "\x00",
    "u" * 129,
    "v" * 200,
    "tab\there",
    "\x1b[31mred",
    "zero\u200bwidth",
    "line\u2028break",
    "\u202e",
    "\x7f",
    "nb\u00a0sp",
    ".",
    "..",
    "$SYS",
    "$x",
)
# Ids with a slash are unsafe too; each of these also leaves an empty or wildcard level.
SLASHED_IDS: Final[tuple[str, ...]] = ("a/", "/a", "a//b", "a/+", "#/x")
INVALID_UTF8: Final[tuple[bytes, ...]] = (
    b"\xff",
    b"\xfe",
    b"\xc0\xaf",  # overlong "/"
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\x80",  # a lone continuation byte
    b"\xe2\x82",  # truncated
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",
)
LONE_SURROGATES: Final[tuple[bytes, ...]] = (b'"\\ud800"', b'"x\\udfff"', b'"\\ud83d!"')
NUMBER_ATTACKS: Final[tuple[bytes, ...]] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"1" + b"0" * 400,
    b"-" + b"9" * 400,
)
DEEP_VALID: Final = Raw(b"[" * 900 + b"]" * 900)
DEEP_INVALID: Final = Raw(b"[" * 10_000 + b"]" * 10_000)
NOT_OBJECTS: Final[tuple[bytes, ...]] = (b"[]", b"[{}]", b'"text"', b"42", b"true", b"null")
BROKEN_JSON: Final[tuple[bytes, ...]] = (
    b"{'status': 'online'}",
    b'{"a":1,}',
    b'{"a":1} {}',
    b'{"a":1}x',
    b'{/* comment */"a":1}',
    b'{"a":01}',
    b'{"a":.5}',
    b'{"a":"\x01"}',  # a raw control character in a string
    b'{"a" 1}',
    b"\xef\xbb\xbf{}",  # a byte order mark
    b"[" * 10_000,
)


def hostile_json(rng: random.Random) -> Json:
    """A valid but hostile JSON value: what an unread field may hold."""
    match rng.randrange(9):
        case 0:
            return rng.choice(TEXT)
        case 1:
            return rng.choice((1e308, -1e308, 5e-324, 2**64, -(2**63), 0, -0.0))
        case 2:
            return DEEP_VALID
        case 3:
            return [rng.choice(TEXT) for _ in range(rng.randrange(50))]
        case 4:
            return {rng.choice(TEXT): rng.choice(TEXT) for _ in range(rng.randrange(5))}
        case 5:
            return rng.choice((True, False, None))
        case 6:
            return {"nested": {"deeper": [1, {"x": None}]}}
        case 7:
            return rng.choice(ODD_SAFE_IDS + UNSAFE_IDS)
        case _:
            return list(range(rng.randrange(500)))


# --- typed fields ---------------------------------------------------------------------------


class Kind(Enum):
    """What a field must hold."""

    NUMBER = "a number"
    WHOLE = "a whole number"
    STRING = "a string"
    BOOLEAN = "a boolean"
    OBJECT = "an object"
    ARRAY = "an array"
    WORD = "one of some words"
    SAFE_ID = "a safe id"
    BASE64 = "base64 text"
    EXTRA_NUMBER = "a number, if anything numeric"  # AutoCore's other telemetry keys
    BOARD_ID = "a string or an integer"


class Fault(Enum):
    """What a bad (or missing) field does to its message."""

    NONE = "none"  # nothing: still valid (an optional field not reported, an edge value)
    PROBLEM = "problem"  # the message is invalid, its other fields apply
    REJECT = "reject"  # the message is rejected whole
    BROKEN = "broken"  # the payload is no longer valid JSON: rejected whole


@dataclass(frozen=True, slots=True)
class Field:
    """A field the integration reads, and what breaking it does."""

    path: tuple[str, ...]
    kind: Kind
    bad: Fault = Fault.PROBLEM
    missing: Fault = Fault.NONE
    minimum: float | None = None  # default: 0 for whole numbers, none for numbers
    maximum: float = MAX_WHOLE
    words: tuple[str, ...] = ()  # WORD: the accepted words
    any_case: bool = False  # WORD: case does not matter
    unknown: Fault | None = None  # WORD: what another word does (default: `bad`)
    null: Fault | None = None  # what a JSON null does (default: as `missing`)
    edges: bool = True  # whether valid edge values may be drawn

    @property
    def low(self) -> float:
        """The smallest valid value of a number."""
        if self.minimum is not None:
            return self.minimum
        return 0 if self.kind is Kind.WHOLE else -math.inf


NUMERIC_STRINGS: Final[tuple[str, ...]] = ("12.5", "-3", " 7 ", "NaN", "1e3")
NUMBER_WRONG: Final[tuple[Json, ...]] = (
    *NUMERIC_STRINGS,
    True,
    False,
    "abc",
    "",
    [],
    [1.5],
    {},
    {"value": 1},
)
STRING_WRONG: Final[tuple[Json, ...]] = (0, 1.5, -1, True, False, [], ["x"], {}, {"t": "x"})
BOOLEAN_WRONG: Final[tuple[Json, ...]] = (0, 1, "true", "false", "on", "", [], {}, [True])
OBJECT_WRONG: Final[tuple[Json, ...]] = ([], [{}], "x", "{}", 0, True)
ARRAY_WRONG: Final[tuple[Json, ...]] = ({}, "[]", 0, True, "x")
NOT_BASE64: Final[tuple[str, ...]] = ("abc", "@@@@", "YQ=", "ü", " YQ==", "YQ==YQ==x")
BOARD_ID_WRONG: Final[tuple[Json, ...]] = (1.5, True, False, [], ["x"], {}, 2**64)
UNKNOWN_WORDS: Final[tuple[str, ...]] = ("", " ", "unknown", "0nline", "on-line", "ack", "ok!")
NUMBER_EDGES: Final[tuple[Json, ...]] = (
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    2**64,
    0,
    -0.0,
)


def wrong_values(spec: Field) -> tuple[Json, ...]:
    """Values of the wrong JSON type, or out of range: bad by construction."""
    match spec.kind:
        case Kind.NUMBER:
            return NUMBER_WRONG + ((-1, -0.5) if spec.low == 0 else ())
        case Kind.WHOLE:
            below = spec.low - 1 if spec.low > -(2**62) else -1e19
            above = spec.maximum + 1 if spec.maximum < MAX_WHOLE else 2**63
            return (*NUMBER_WRONG, 0.5, 12.25, below, above, 1e19, 1e308, -1e308)
        case Kind.EXTRA_NUMBER:
            return NUMERIC_STRINGS
        case Kind.STRING | Kind.WORD:
            return STRING_WRONG
        case Kind.BASE64:
            return STRING_WRONG + NOT_BASE64
        case Kind.SAFE_ID:
            return STRING_WRONG + UNSAFE_IDS + SLASHED_IDS
        case Kind.BOARD_ID:
            return BOARD_ID_WRONG
        case Kind.BOOLEAN:
            return BOOLEAN_WRONG
        case Kind.OBJECT:
            return OBJECT_WRONG
        case Kind.ARRAY:
            return ARRAY_WRONG


def edge_values(spec: Field) -> tuple[Json, ...]:
    """Unusual values that are still valid."""
    if not spec.edges:
        return ()
    match spec.kind:
        case Kind.NUMBER | Kind.EXTRA_NUMBER:
            return tuple(value for value in NUMBER_EDGES if value >= spec.low)
        case Kind.WHOLE:
            low, high = int(spec.low), int(spec.maximum)
            return (low, high, float(low), 2**53 + 1 if high > 2**53 else high)
        case Kind.STRING:
            return TEXT
        case Kind.BOARD_ID:
            return (*TEXT, 7, 2**63)
        case Kind.SAFE_ID:
            return ODD_SAFE_IDS
        case Kind.WORD if spec.any_case:
            return tuple(variant for word in spec.words for variant in (word.upper(), word.title()))
        case Kind.OBJECT:
            return ({},)
        case Kind.ARRAY:
            return ([],)
        case _:
            return ()


def set_path(obj: Obj, path: tuple[str, ...], value: Json) -> Obj:
    """Return a copy of `obj` with `value` at `path` (copies only the containers on it)."""
    head, *rest = path
    copied = dict(obj)
    copied[head] = set_path(copied.get(head) or {}, tuple(rest), value) if rest else value
    return copied


def without(obj: Obj, path: tuple[str, ...]) -> Obj:
    """Return a copy of `obj` without the key at `path`."""
    head, *rest = path
    copied = dict(obj)
    if rest and isinstance(copied.get(head), dict):
        copied[head] = without(copied[head], tuple(rest))
    elif not rest:
        copied.pop(head, None)
    return copied


@dataclass(frozen=True, slots=True)
class Mutation:
    """An object after one field was changed, and what that does to its message."""

    obj: Obj
    fault: Fault
    applies: Obj | None  # the object whose effects apply (None: no effects)
    attack: str


def mutate_field(rng: random.Random, obj: Obj, specs: Sequence[Field]) -> Mutation:
    """Break (or stretch) one typed field of `obj`."""
    spec = rng.choice(specs)
    roll = rng.random()
    pruned = without(obj, spec.path)
    if roll < 0.5:
        accepted = {word.lower() for word in spec.words}
        if spec.kind is Kind.WORD and rng.random() < 0.4:
            value: Json = rng.choice([w for w in UNKNOWN_WORDS if w.lower() not in accepted])
            fault, attack = spec.unknown or spec.bad, "unknown word"
        else:
            value, fault, attack = rng.choice(wrong_values(spec)), spec.bad, "wrong JSON type"
            if spec.kind is Kind.WHOLE and type(value) in (int, float):
                attack = "number out of range or with a fraction"
            elif spec.kind is Kind.SAFE_ID and isinstance(value, str):
                attack = "unsafe id in payload"
            elif isinstance(value, str) and value in NUMERIC_STRINGS:
                attack = "number sent as a string"
        return Mutation(set_path(obj, spec.path, value), fault, _applies(fault, pruned), attack)
    if roll < 0.75:
        if roll < 0.62:
            fault = spec.missing if spec.null is None else spec.null
            return Mutation(set_path(obj, spec.path, None), fault, _applies(fault, pruned), "null")
        return Mutation(pruned, spec.missing, _applies(spec.missing, pruned), "missing field")
    if spec.kind in (Kind.NUMBER, Kind.WHOLE, Kind.EXTRA_NUMBER) and roll < 0.88:
        raw = Raw(rng.choice(NUMBER_ATTACKS))
        return Mutation(set_path(obj, spec.path, raw), Fault.BROKEN, None, "NaN/Infinity/1e400")
    if edges := edge_values(spec):
        changed = set_path(obj, spec.path, rng.choice(edges))
        numeric = spec.kind in (Kind.NUMBER, Kind.WHOLE, Kind.EXTRA_NUMBER)
        return Mutation(changed, Fault.NONE, changed, "huge number" if numeric else "edge value")
    return Mutation(obj, Fault.NONE, obj, "good")


def _applies(fault: Fault, pruned: Obj) -> Obj | None:
    return None if fault in (Fault.REJECT, Fault.BROKEN) else pruned


# --- templates and the generic fuzzer --------------------------------------------------------

type TopicFn = Callable[[str, Obj], str]


@dataclass(frozen=True, slots=True)
class Template:
    """One message shape: its topic, a good payload, its typed and unread fields, effects.

    Keys of a good object that start with `#` are not sent: they say where its topic puts
    things (a layout A relay's index).
    """

    name: str
    topic: TopicFn
    good: Callable[[random.Random, str], Obj]
    fields: Callable[[Obj], Sequence[Field]]
    effects: Callable[[str, Obj], list[Effect]]
    free: tuple[str, ...] = ()  # keys the integration does not read
    any_json: bool = False  # the payload may be any JSON value, not only an object


@dataclass(frozen=True, slots=True)
class Drawn:
    """A message as a builder made it, before delivery is decided."""

    topic: str | bytes
    payload: bytes
    expect: Expect
    attack: str
    effects: list[Effect] = field(default_factory=list)
    partial: bool = False


def noise(rng: random.Random, size: int) -> bytes:
    """Random bytes that are never UTF-8: one 0xFF somewhere."""
    data = bytearray(rng.randbytes(rng.randrange(size)))
    data.insert(rng.randrange(len(data) + 1), 0xFF)
    return bytes(data)


class Fuzzer:
    """A family's seeded stream of hostile messages."""

    base: str
    filters: tuple[str, ...]
    good_ids: tuple[str, ...]
    templates: tuple[Template, ...]

    def __init__(self, seed: str) -> None:
        """Seed the stream: the same seed gives the same messages."""
        self.rng = random.Random(seed)  # noqa: S311 - reproducible, not secret
        self._mebibytes: dict[str, bytes] = {}
        self._delivered: dict[bytes, bool] = {}

    def messages(self, count: int) -> Iterator[Fuzzed]:
        """Yield `count` messages."""
        for _ in range(count):
            yield self.finish(self.draw())

    def delivered(self, topic: bytes) -> bool:
        """Tell whether HA's MQTT layer hands a topic to the hub's subscriptions."""
        if (known := self._delivered.get(topic)) is not None:
            return known
        try:
            text = topic.decode("utf-8")
        except UnicodeDecodeError:
            delivered = False
        else:
            delivered = any(topic_matches(topic_filter, text) for topic_filter in self.filters)
        self._delivered[topic] = delivered
        return delivered

    def finish(self, drawn: Drawn) -> Fuzzed:
        """Decide delivery from the subscription filters and HA's UTF-8 check on topics."""
        topic = drawn.topic if isinstance(drawn.topic, bytes) else drawn.topic.encode()
        delivered = self.delivered(topic)
        if drawn.expect is Expect.VALID and not delivered:
            raise AssertionError(f"oracle bug: a valid message off the filters: {topic!r}")
        return Fuzzed(
            topic=topic,
            payload=drawn.payload,
            qos=self.rng.randrange(3),
            expect=drawn.expect if delivered else Expect.UNDELIVERED,
            attack=drawn.attack,
            effects=tuple(drawn.effects) if delivered else (),
            partial=drawn.partial and delivered,
        )

    def draw(self) -> Drawn:
        """Draw one message: good, odd but valid, a field, the payload or the topic broken."""
        roll = self.rng.random()
        if roll < 0.22:
            return self.good_message()
        if roll < 0.30:
            return self.odd_valid()
        if roll < 0.66:
            return self.field_attack()
        if roll < 0.88:
            return self.payload_attack()
        return self.topic_attack()

    def odd_id(self) -> str:
        """A safe id that is unusual (unicode, 128 characters, spaces)."""
        return self.rng.choice(ODD_SAFE_IDS)

    def pick(self) -> tuple[Template, str, Obj]:
        """A template, a good device and a good object."""
        template = self.rng.choice(self.templates)
        device = self.rng.choice(self.good_ids)
        return template, device, template.good(self.rng, device)

    def encode(self, obj: Obj) -> bytes:
        """Encode what is sent of an object (not its `#` keys)."""
        return encode(self.rng, {k: v for k, v in obj.items() if not k.startswith("#")})

    def message(
        self,
        template: Template,
        device: str,
        mutation: Mutation,
        payload: bytes | None = None,
    ) -> Drawn:
        """Build the message for an object whose fault is known."""
        applies = mutation.applies
        effects = [] if applies is None else template.effects(device, applies)
        return Drawn(
            template.topic(device, mutation.obj),
            self.encode(mutation.obj) if payload is None else payload,
            Expect.VALID if mutation.fault is Fault.NONE else Expect.INVALID,
            mutation.attack,
            effects,
            partial=mutation.fault is Fault.PROBLEM and bool(effects),
        )

    def good_message(self) -> Drawn:
        """A known-good message for a known-good device."""
        template, device, obj = self.pick()
        return self.message(template, device, Mutation(obj, Fault.NONE, obj, "good"))

    def odd_valid(self) -> Drawn:
        """Valid but unusual: odd safe ids, hostile unread fields, 64 KiB, a repeated key."""
        template, device, obj = self.pick()
        roll = self.rng.random()
        if roll < 0.3:
            device = self.odd_id()
            obj = template.good(self.rng, device)
            return self.message(template, device, Mutation(obj, Fault.NONE, obj, "odd safe id"))
        if roll < 0.7 and template.free:
            changed = obj | {key: hostile_json(self.rng) for key in template.free}
            mutation = Mutation(changed, Fault.NONE, changed, "hostile unread fields")
            return self.message(template, device, mutation)
        payload = self.encode(obj)
        if roll < 0.85 or not template.free:
            padded = payload + b" " * (PAYLOAD_LIMIT - len(payload))
            mutation = Mutation(obj, Fault.NONE, obj, "exactly 64 KiB")
            return self.message(template, device, mutation, padded)
        repeated = b'{"%s":"first",' % template.free[-1].encode() + payload.lstrip()[1:]
        return self.message(
            template, device, Mutation(obj, Fault.NONE, obj, "repeated key"), repeated
        )

    def field_attack(self) -> Drawn:
        """One typed field broken, nulled, dropped or stretched."""
        template, device, obj = self.pick()
        if not (specs := template.fields(obj)):
            return self.payload_attack()
        return self.message(template, device, mutate_field(self.rng, obj, specs))

    def payload_attack(self) -> Drawn:
        """A payload that breaks as a whole: it never applies anything."""
        template, device, obj = self.pick()
        rng = self.rng
        key = rng.choice(template.free or ("junk",))
        match rng.randrange(11):
            case 0:
                payload, attack = noise(rng, 200), "random bytes"
            case 1:
                encoded = self.encode(obj)
                payload, attack = encoded[: rng.randrange(1, len(encoded))], "truncated JSON"
            case 2:
                raw = Raw(b'"' + rng.choice(INVALID_UTF8) + b'"')
                payload, attack = self.encode(obj | {key: raw}), "invalid UTF-8"
            case 3:
                raw = Raw(rng.choice(LONE_SURROGATES))
                payload, attack = self.encode(obj | {key: raw}), "escaped lone surrogate"
            case 4:
                raw = Raw(rng.choice(NUMBER_ATTACKS))
                payload, attack = self.encode(obj | {key: raw}), "NaN/Infinity/1e400"
            case 5:
                payload, attack = self.encode(obj | {key: DEEP_INVALID}), "10,000 levels deep"
            case 6 if rng.random() < 0.25:
                payload, attack = self.mebibyte(template), "1 MiB"
            case 6:
                encoded = self.encode(obj)
                payload = encoded + b" " * (PAYLOAD_LIMIT + 1 - len(encoded))
                attack = "64 KiB + 1"
            case 7:  # a cleared retained message: ignored, not invalid
                return Drawn(template.topic(device, obj), b"", Expect.IGNORED, "empty payload")
            case 8 if not template.any_json:
                payload, attack = rng.choice(NOT_OBJECTS), "not an object"
            case _:
                payload, attack = rng.choice(BROKEN_JSON), "invalid JSON"
        return Drawn(template.topic(device, obj), payload, Expect.INVALID, attack)

    def mebibyte(self, template: Template) -> bytes:
        """A good payload padded to 1 MiB (built once per template: bytes are shared)."""
        if (payload := self._mebibytes.get(template.name)) is None:
            good = self.encode(template.good(self.rng, self.good_ids[0]))
            payload = self._mebibytes[template.name] = good + b" " * (MEBIBYTE - len(good))
        return payload

    def topic_attack(self) -> Drawn:
        """A good payload on a hostile topic: unsafe ids, topics off the scheme, bad bytes."""
        template, device, obj = self.pick()
        while template.topic(device, obj) == template.topic("other", obj):  # no id in it
            template, device, obj = self.pick()
        payload = self.encode(obj)
        roll = self.rng.random()
        if roll < 0.45:
            bad_id = self.rng.choice(UNSAFE_IDS + SLASHED_IDS)
            return Drawn(template.topic(bad_id, obj), payload, Expect.INVALID, "unsafe id in topic")
        if roll < 0.55:
            topic = template.topic(device, obj).encode()
            cut = self.rng.randrange(len(self.base) + 1, len(topic) + 1)
            bad = topic[:cut] + self.rng.choice(INVALID_UTF8) + topic[cut:]
            return Drawn(bad, payload, Expect.UNDELIVERED, "invalid UTF-8 topic")
        topic, expect = self.rng.choice(self.off_scheme(device))
        if (expect is not Expect.UNDELIVERED) != self.delivered(topic.encode()):
            raise AssertionError(f"oracle bug: {topic!r} is not {expect.value}")
        return Drawn(topic, payload, expect, "topic off the scheme")

    def off_scheme(self, device: str) -> list[tuple[str, Expect]]:
        """Topics outside the scheme, marked by hand (checked against the filters)."""
        base = self.base
        return [
            (base, Expect.UNDELIVERED),
            (f"{base}/", Expect.UNDELIVERED),
            (f"{base}/{device}", Expect.UNDELIVERED),
            (f"{base}/{device}/unknown", Expect.UNDELIVERED),
            (f"{base}/{device}/status/extra", Expect.UNDELIVERED),
            (f"{base.upper()}/{device}/status", Expect.UNDELIVERED),
            (f"x/{base}/{device}/status", Expect.UNDELIVERED),
            (f"{base}x/{device}/status", Expect.UNDELIVERED),
        ]

    def status_words(
        self, topic: TopicFn, valid: Sequence[bytes], invalid: Sequence[bytes], seen: str
    ) -> Drawn:
        """A text status (Janus, SpotFi): online in its accepted spellings, or not."""
        rng = self.rng
        roll = rng.random()
        device = self.odd_id() if roll < 0.05 else rng.choice(self.good_ids)
        if roll < 0.4:
            payload = rng.choice(valid)
            if rng.random() < 0.05:
                payload += b" " * (PAYLOAD_LIMIT - len(payload))
            return Drawn(topic(device, {}), payload, Expect.VALID, seen, [Effect(device)])
        if roll < 0.5:
            bad = rng.choice(UNSAFE_IDS + SLASHED_IDS)
            return Drawn(topic(bad, {}), valid[0], Expect.INVALID, "unsafe id in topic")
        if roll < 0.55:
            big = valid[0] + b" " * PAYLOAD_LIMIT
            return Drawn(topic(device, {}), big, Expect.INVALID, "64 KiB + 1")
        if roll < 0.65:
            return Drawn(topic(device, {}), noise(rng, 64), Expect.INVALID, "random bytes")
        if not (payload := rng.choice((b"", *invalid))):
            return Drawn(topic(device, {}), payload, Expect.IGNORED, "empty payload")
        return Drawn(topic(device, {}), payload, Expect.INVALID, "bad status")


def _text(rng: random.Random) -> str:
    return rng.choice(TEXT)


def _seen(device: str, _obj: Obj) -> list[Effect]:
    return [Effect(device)]


def _nothing(_device: str, _obj: Obj) -> list[Effect]:
    return []


def _no_fields(_obj: Obj) -> Sequence[Field]:
    return ()


# --- AutoCore --------------------------------------------------------------------------------

AUTOCORE_FILTERS: Final = (
    "autocore/+/status",
    "autocore/+/telemetry",
    "autocore/+/relay/+/status",
    "autocore/+/display/interaction",
    "autocore/+/system/+",
    "autocore/devices/+/status",
    "autocore/devices/+/relays/state",
    "autocore/telemetry/relays/data",
    "autocore/errors/+/+",
)
STATUS_FIELDS: Final = (
    # A status without `status` is a problem; `"status": null` reads as not reported.
    Field(
        ("status",),
        Kind.WORD,
        missing=Fault.PROBLEM,
        null=Fault.NONE,
        words=("online",),
        any_case=True,
    ),
    Field(("ip_address",), Kind.STRING),
    Field(("firmware_version",), Kind.STRING),
    Field(("uptime",), Kind.WHOLE),
    Field(("wifi_signal",), Kind.NUMBER),
    Field(("free_memory",), Kind.WHOLE),
    Field(("board_id",), Kind.BOARD_ID),
    Field(("reason",), Kind.STRING),  # why the board went away (its Last Will): display text
)
STATUS_VALUES: Final = ("wifi_signal", "free_memory")
KNOWN_TELEMETRY: Final = {
    "temperature": ("temperature", Kind.NUMBER),
    "humidity": ("humidity", Kind.NUMBER),
    "voltage": ("voltage", Kind.NUMBER),
    "wifi_signal": ("wifi_signal", Kind.NUMBER),
    "memory_free": ("free_memory", Kind.WHOLE),
    "uptime": ("last_restart", Kind.WHOLE),  # its value is the uptime, dating the restart
}
EXTRA_KEYS: Final = ("co2", "pm2_5", "lux", "CO2", "soil.moisture", "x-axis", "k" * 64)
BAD_EXTRA_KEYS: Final = ("temp °C", "k" * 65, "a/b", "", "wärme", "a b", "a+b")
RELAY_INDEX_ATTACKS: Final = ("01", "256", "-1", "x", "1.0", "\u0663", " 1", "9" * 5000)
CHANNEL_KEY_ATTACKS: Final = ("0", "01", "256", "x", "", "1.0", "\u0661", "9" * 5000)


def _ip(rng: random.Random) -> str:
    return f"192.168.{rng.randrange(256)}.{rng.randrange(256)}"


def _firmware(rng: random.Random) -> str:
    return f"{rng.randrange(3)}.{rng.randrange(10)}.{rng.randrange(100)}"


def _status_a(rng: random.Random, device: str) -> Obj:
    return {
        "device_id": device,
        "status": "online",
        "ip_address": _ip(rng),
        "firmware_version": _firmware(rng),
        "uptime": rng.randrange(10**7),
        "timestamp": "2025-01-28T10:30:00Z",
    }


def _status_b(rng: random.Random, device: str) -> Obj:
    return {
        "protocol_version": "2.2.0",
        "uuid": device,
        "timestamp": "2025-01-28T10:30:00Z",
        "status": "online",
        "firmware_version": _firmware(rng),
        "ip_address": _ip(rng),
        "wifi_signal": rng.randrange(-90, -30),
        "free_memory": rng.randrange(10**6),
        "uptime": rng.randrange(10**7),
        "board_id": "relay_board_1",
        "type": "esp32_relay",
        "channels": 16,
    }


def _status_effects(device: str, obj: Obj) -> list[Effect]:
    effects = [Effect(device)]
    effects += [Effect(device, key, obj[key]) for key in STATUS_VALUES if obj.get(key) is not None]
    if (uptime := obj.get("uptime")) is not None:
        effects.append(Effect(device, "last_restart", uptime))
    if (reason := obj.get("reason")) is not None and DISPLAYED.get(reason, reason) is not None:
        effects.append(Effect(device, "disconnect_reason", DISPLAYED.get(reason, reason)))
    address = obj.get("ip_address")
    address = address.strip() if isinstance(address, str) else ""
    if address and not _unspecified(address):
        effects.append(Effect(device, "ip_address", address))
    elif isinstance(status := obj.get("status"), str) and status.lower() == "online":
        effects.append(Effect(device, "ip_address", None, if_shown=True))
    return effects


def _unspecified(address: str) -> bool:
    """An address naming no host (`0.0.0.0`, `::`): the board has none to show."""
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _telemetry(rng: random.Random, device: str) -> Obj:
    obj: Obj = {
        "device_id": device,
        "temperature": round(rng.uniform(-40, 85), 1),
        "humidity": round(rng.uniform(0, 100), 1),
        "voltage": round(rng.uniform(3, 3.6), 2),
        "memory_free": rng.randrange(10**6),
        "timestamp": "2025-01-28T10:30:15Z",
    }
    if rng.random() < 0.3:
        obj["uptime"] = rng.randrange(10**7)
        obj["wifi_signal"] = rng.randrange(-90, -30)
    if rng.random() < 0.4:
        obj[rng.choice(EXTRA_KEYS)] = round(rng.uniform(0, 2000), 2)
    if rng.random() < 0.2:
        obj["note"] = rng.choice(("calibrated", [1, 2], {"x": 1}, True))  # not numeric: ignored
    return obj


def _telemetry_fields(obj: Obj) -> Sequence[Field]:
    known = [Field((key,), kind) for key, (_, kind) in KNOWN_TELEMETRY.items() if key in obj]
    return known + [Field((key,), Kind.EXTRA_NUMBER) for key in obj if key in EXTRA_KEYS]


def _telemetry_effects(device: str, obj: Obj) -> list[Effect]:
    effects = [Effect(device)]
    for key, value in obj.items():
        if key in KNOWN_TELEMETRY and value is not None:
            effects.append(Effect(device, KNOWN_TELEMETRY[key][0], value))
        elif key in EXTRA_KEYS and type(value) in (int, float):
            effects.append(Effect(device, f"telemetry_{key}", value))
    return effects


def _relay_a(rng: random.Random, device: str) -> Obj:
    index = rng.randrange(4)
    return {
        "#index": index,
        "device_id": device,
        "relay_index": index,
        "state": rng.random() < 0.5,
        "triggered_by": rng.choice(("manual", "schedule", "mqtt")),
        "timestamp": "2025-01-28T10:30:15Z",
    }


RELAY_A_FIELDS: Final = (Field(("state",), Kind.BOOLEAN, bad=Fault.REJECT, missing=Fault.REJECT),)


def _relay_states(rng: random.Random, device: str) -> Obj:
    channels = rng.sample(range(1, 9), rng.randrange(1, 5))
    return {
        "uuid": device,
        "board_id": "relay_board_1",
        "timestamp": "2025-01-28T10:30:15Z",
        "channels": {str(channel): rng.random() < 0.5 for channel in channels},
    }


def _relay_states_fields(obj: Obj) -> Sequence[Field]:
    channels = Field(("channels",), Kind.OBJECT, bad=Fault.REJECT, missing=Fault.REJECT)
    return [channels, *(Field(("channels", key), Kind.BOOLEAN) for key in obj["channels"])]


def _relay_states_effects(device: str, obj: Obj) -> list[Effect]:
    channels = obj.get("channels") or {}
    return [Effect(device)] + [
        Effect(device, f"channel_{key}", value)
        for key, value in channels.items()
        if value is not None
    ]


def _relay_event(rng: random.Random, device: str) -> Obj:
    channel = rng.randrange(1, 9)
    if rng.random() < 0.8:
        return {
            "uuid": device,
            "board_id": "relay_board_1",
            "event": "relay_change",
            "channel": channel,
            "state": rng.random() < 0.5,
            "trigger": "mqtt",
            "source": "home_assistant",
        }
    return {
        "uuid": device,
        "event": "safety_shutoff",
        "channel": channel,
        "reason": "heartbeat_timeout",
        "timeout": 30000,
    }


def _relay_event_fields(obj: Obj) -> Sequence[Field]:
    words = ("relay_change", "safety_shutoff")
    specs = [
        Field(("uuid",), Kind.SAFE_ID, bad=Fault.REJECT, missing=Fault.REJECT),
        Field(("channel",), Kind.WHOLE, Fault.REJECT, Fault.REJECT, minimum=1, maximum=255),
        Field(("event",), Kind.WORD, Fault.REJECT, Fault.REJECT, words=words),
    ]
    if obj["event"] == "relay_change":
        return [
            *specs,
            Field(("state",), Kind.BOOLEAN, bad=Fault.REJECT, missing=Fault.REJECT),
        ]
    return [*specs, Field(("reason",), Kind.STRING)]


def _relay_event_effects(_device: str, obj: Obj) -> list[Effect]:
    board, channel = obj["uuid"], int(obj["channel"])
    state = obj["state"] if obj["event"] == "relay_change" else False
    return [Effect(board), Effect(board, f"channel_{channel}", state)]


def _display(rng: random.Random, _device: str) -> Obj:
    return {"screen": "main", "element": f"btn_{rng.randrange(4)}", "action": "press"}


def _system(rng: random.Random, _device: str) -> Obj:
    return {"event": rng.choice(("boot", "ota_start", "heap_low")), "free_heap": 1234}


LAYOUT_A: Final = (
    Template(
        "status",
        lambda d, _o: f"autocore/{d}/status",
        _status_a,
        lambda _obj: STATUS_FIELDS,
        _status_effects,
        free=("device_id", "timestamp"),
    ),
    Template(
        "telemetry",
        lambda d, _o: f"autocore/{d}/telemetry",
        _telemetry,
        _telemetry_fields,
        _telemetry_effects,
        free=("device_id", "timestamp", "uuid"),
    ),
    Template(
        "relay",
        lambda d, obj: f"autocore/{d}/relay/{obj['#index']}/status",
        _relay_a,
        lambda _obj: RELAY_A_FIELDS,
        lambda d, obj: [Effect(d), Effect(d, f"relay_{obj['#index']}", obj["state"])],
        free=("device_id", "relay_index", "triggered_by", "timestamp"),
    ),
    Template(
        "display",
        lambda d, _o: f"autocore/{d}/display/interaction",
        _display,
        _no_fields,
        _seen,
        free=("screen", "element", "action"),
    ),
    Template(
        "system",
        lambda d, _o: f"autocore/{d}/system/boot",
        _system,
        _no_fields,
        _seen,
        free=("event", "free_heap"),
        any_json=True,
    ),
)
LAYOUT_B: Final = (
    Template(
        "status",
        lambda d, _o: f"autocore/devices/{d}/status",
        _status_b,
        lambda _obj: STATUS_FIELDS,
        _status_effects,
        free=("protocol_version", "uuid", "type", "channels", "timestamp"),
    ),
    Template(
        "relays state",
        lambda d, _o: f"autocore/devices/{d}/relays/state",
        _relay_states,
        _relay_states_fields,
        _relay_states_effects,
        free=("uuid", "board_id", "timestamp"),
    ),
    Template(
        "relay event",
        lambda _d, _o: "autocore/telemetry/relays/data",
        _relay_event,
        _relay_event_fields,
        _relay_event_effects,
        free=("board_id", "trigger", "source", "timeout"),
    ),
    Template(
        "error report",
        lambda d, _o: f"autocore/errors/{d}/relay_fault",
        _system,
        _no_fields,
        _seen,
        free=("event", "free_heap"),
        any_json=True,
    ),
)


class AutoCoreFuzzer(Fuzzer):
    """AutoCore boards of one layout (A: the monitor contract, B: firmware v2)."""

    base = "autocore"
    filters = AUTOCORE_FILTERS

    def __init__(self, seed: str, layout: str) -> None:
        """Draw messages of layout `layout` ("A" or "B")."""
        super().__init__(f"{seed}-{layout}")
        self.layout = layout
        if layout == "A":
            self.good_ids = ("ESP32_001", "ESP32_002", "ESP32_003")
            self.templates = LAYOUT_A
        else:
            self.good_ids = ("board-b1", "board-b2", "4a1c0e2f9b7d4c3e8f1a2b3c4d5e6f70")
            self.templates = LAYOUT_B

    def topic_attack(self) -> Drawn:
        """Also: relay numbers that are not canonical, telemetry keys that are not names."""
        rng = self.rng
        roll = rng.random()
        device = rng.choice(self.good_ids)
        if self.layout == "A" and roll < 0.15:
            topic = f"autocore/{device}/relay/{rng.choice(RELAY_INDEX_ATTACKS)}/status"
            payload = encode(rng, {"state": True})
            return Drawn(topic, payload, Expect.INVALID, "relay index not a number")
        if self.layout == "A" and roll < 0.3:
            obj = _telemetry(rng, device)
            if rng.random() < 0.5:
                obj[rng.choice(BAD_EXTRA_KEYS)] = 21.5
                attack = "telemetry key not a name"
            else:
                obj[rng.choice(("note", "co2", "mode"))] = rng.choice(NUMERIC_STRINGS)
                attack = "number sent as a string"
            applies = {key: value for key, value in obj.items() if type(value) is not str}
            topic = f"autocore/{device}/telemetry"
            effects = _telemetry_effects(device, applies)
            return Drawn(topic, encode(rng, obj), Expect.INVALID, attack, effects, partial=True)
        if self.layout == "B" and roll < 0.2:
            obj = _relay_states(rng, device)
            bad_key = rng.choice(CHANNEL_KEY_ATTACKS)
            obj["channels"] = obj["channels"] | {bad_key: rng.choice((True, None))}
            topic = f"autocore/devices/{device}/relays/state"
            effects = _relay_states_effects(device, without(obj, ("channels", bad_key)))
            attack = "channel not a number"
            return Drawn(topic, encode(rng, obj), Expect.INVALID, attack, effects, partial=True)
        return super().topic_attack()

    def off_scheme(self, device: str) -> list[tuple[str, Expect]]:
        """Also our own command topics, which we never subscribe to."""
        return [
            *super().off_scheme(device),
            (f"autocore/{device}/relay/0/set", Expect.UNDELIVERED),
            (f"autocore/devices/{device}/relays/set", Expect.UNDELIVERED),
            (f"autocore/devices/{device}/commands/status", Expect.UNDELIVERED),
            (f"autocore/{device}/system", Expect.UNDELIVERED),
            (f"autocore/errors/{device}", Expect.UNDELIVERED),
            (f"autocore/errors/{device}/a/b", Expect.UNDELIVERED),
            ("autocore/telemetry/relays/other", Expect.UNDELIVERED),
            (f"autocore/{device}/system/{'k' * 129}", Expect.INVALID),
            (f"autocore/errors/{device}/", Expect.INVALID),
        ]


# --- Janus ---------------------------------------------------------------------------------------

JANUS_FILTERS: Final = ("janus/+/status", "janus/+/from-janus-admin")
JANUS_STATUS_VALID: Final = (
    b'{"online":true}',
    b'{"online": true, "since": "2025-01-28"}',
    b"true",
    b'"online"',
    b'" Online "',
    b'"TRUE"',
    b"online",
    b"ONLINE",
    b" online\n",
    b"True",
)
JANUS_STATUS_INVALID: Final = (
    b'{"online":"true"}',
    b'{"online":1}',
    b'{"online":null}',
    b"{}",
    b'{"Online":true}',
    b"yes",
    b"1",
    b"up",
    b"onlin",
    b"online!",
    b"on line",
    b"[true]",
    b"null",
    b"onl\xffine",
    b'{"online":NaN}',
    b'{"online": tru',
)
JANUS_REPLIES: Final = ("success", "error", "server_info", "pong")  # pong: nothing to read


def _admin_reply(rng: random.Random, _server: str) -> Obj:
    transaction: Json = rng.choice(("unmatched", rng.randbytes(12).hex(), 17, None, ""))
    match rng.choice(JANUS_REPLIES):
        case "success":
            sessions = [rng.randrange(2**53) for _ in range(rng.randrange(6))]
            return {"janus": "success", "transaction": transaction, "sessions": sessions}
        case "error":
            error = {"code": rng.choice((403, 456, 457, 458, 467)), "reason": _text(rng)}
            return {"janus": "error", "transaction": transaction, "error": error}
        case "server_info":
            return {
                "janus": "server_info",
                "transaction": transaction,
                "version_string": "1.2.3",
                "name": "Janus WebRTC Server",
                "server-name": _text(rng),
            }
        case _:
            return {"janus": "pong", "transaction": transaction}


def _admin_fields(obj: Obj) -> Sequence[Field]:
    janus = Field(("janus",), Kind.WORD, Fault.REJECT, Fault.REJECT, words=JANUS_REPLIES)
    match obj["janus"]:
        case "success":
            return (janus, Field(("sessions",), Kind.ARRAY))
        case "error":
            return (
                janus,
                Field(("error",), Kind.OBJECT, bad=Fault.REJECT, missing=Fault.REJECT),
                Field(("error", "code"), Kind.WHOLE),
                Field(("error", "reason"), Kind.STRING),
            )
        case "server_info":
            return (janus, Field(("version_string",), Kind.STRING))
        case _:
            return (janus,)


class JanusFuzzer(Fuzzer):
    """Janus servers: text or JSON statuses, and admin replies nobody waits for."""

    base = "janus"
    filters = JANUS_FILTERS
    good_ids = ("gw1", "gw2", "janus-01")
    templates = (
        Template(
            "admin reply",
            lambda s, _o: f"janus/{s}/from-janus-admin",
            _admin_reply,
            _admin_fields,
            _nothing,
            free=("name", "server-name", "transaction", "plugin"),
        ),
    )

    def draw(self) -> Drawn:
        """Statuses, admin replies with odd session ids, and the generic mix of replies."""
        roll = self.rng.random()
        if roll < 0.45:
            drawn = self.status_words(
                lambda s, _o: f"janus/{s}/status",
                JANUS_STATUS_VALID,
                JANUS_STATUS_INVALID,
                "status",
            )
            if drawn.expect is Expect.VALID:  # a (re)connect: the count is gone until asked
                drawn.effects.append(Effect(drawn.effects[0].device, "sessions", hides=True))
            return drawn
        if roll < 0.5:
            return self.session_entries()
        return super().draw()

    def session_entries(self) -> Drawn:
        """A list_sessions reply whose session ids are not all JSON integers."""
        server = self.rng.choice(self.good_ids)
        odd: Json = self.rng.choice((1.5, 1.0, "1", True, None, [], {}, 2**64))
        body = {"janus": "success", "transaction": "unmatched", "sessions": [1, odd, 3]}
        topic = f"janus/{server}/from-janus-admin"
        return Drawn(topic, encode(self.rng, body), Expect.INVALID, "session id not an integer")

    def off_scheme(self, device: str) -> list[tuple[str, Expect]]:
        """Also the topic we send admin requests on."""
        return [*super().off_scheme(device), (f"janus/{device}/to-janus-admin", Expect.UNDELIVERED)]


# --- SpotFi --------------------------------------------------------------------------------------

SPOTFI_FILTERS: Final = (
    "spotfi/router/+/status",
    "spotfi/router/+/metrics",
    "spotfi/router/+/rpc/response",
    "spotfi/router/+/x/out",
)
SPOTFI_STATUS_VALID: Final = (
    b"ONLINE",
    b"online",
    b" Online\n",
    b'"ONLINE"',
    b'{"status":"online"}',
    b'{"status":" ONLINE ","since":1}',
)
SPOTFI_STATUS_INVALID: Final = (
    b"UP",
    b"1",
    b"true",
    b'{"status":true}',
    b'{"status":null}',
    b"{}",
    b'["ONLINE"]',
    b"ONL\xffINE",
    b'{"status":"online"',
    b"ONLINE!",
)
UPTIME_ATTACKS: Final = ("", "12a", "\u0661\u0662", "-5", " 7", "1e3", "9" * 20, "9" * 5000)


def _metrics(rng: random.Random, _router: str) -> Obj:
    total = rng.randrange(64, 1024) * MEBIBYTE
    uptime = rng.randrange(10**7)
    return {
        "type": "metrics",
        "metrics": {
            "uptime": str(uptime) if rng.random() < 0.8 else uptime,
            "cpuLoad": round(rng.uniform(0, 100), 1),
            "totalMemory": total,
            "freeMemory": rng.randrange(total),
            "activeUsers": rng.randrange(50),
        },
    }


# totalMemory and freeMemory get no edge values: they could break "free <= total", which
# SpotFiFuzzer.quirk covers by hand.
METRICS_FIELDS: Final = (
    Field(("type",), Kind.WORD, words=("metrics",), unknown=Fault.REJECT),
    Field(("metrics",), Kind.OBJECT, bad=Fault.REJECT, missing=Fault.REJECT),
    Field(("metrics", "uptime"), Kind.WHOLE),
    Field(("metrics", "cpuLoad"), Kind.NUMBER, minimum=0),
    Field(("metrics", "totalMemory"), Kind.WHOLE, edges=False),
    Field(("metrics", "freeMemory"), Kind.WHOLE, edges=False),
    Field(("metrics", "activeUsers"), Kind.WHOLE),
)
METRIC_NAMES: Final = {
    "cpuLoad": "cpu_load",
    "totalMemory": "total_memory",
    "freeMemory": "free_memory",
    "activeUsers": "active_users",
}


def _metrics_effects(router: str, obj: Obj) -> list[Effect]:
    metrics = obj.get("metrics") or {}
    effects = [Effect(router)]
    effects += [
        Effect(router, name, metrics[key])
        for key, name in METRIC_NAMES.items()
        if metrics.get(key) is not None
    ]
    if (uptime := metrics.get("uptime")) is not None:
        effects.append(Effect(router, "last_restart", int(uptime)))
    total, free = metrics.get("totalMemory"), metrics.get("freeMemory")
    if total and free is not None:
        effects.append(Effect(router, "memory_used", round(100 * (total - free) / total, 1)))
    return effects


def _rpc_result(rng: random.Random, _router: str) -> Obj:
    return {
        "type": "rpc-result",
        "id": rng.choice((rng.randbytes(12).hex(), rng.randrange(1, 10**6), "late")),
        "status": rng.choice(("success", "error")),
        "result": {"release": {"distribution": "OpenWrt"}},
        "error": "",
        "stderr": "",
    }


RPC_FIELDS: Final = (
    Field(("status",), Kind.WORD, Fault.REJECT, Fault.REJECT, words=("success", "error")),
    Field(("error",), Kind.STRING),
    Field(("stderr",), Kind.STRING),
)
TUNNEL_TYPES: Final = ("x-started", "x-data", "x-error")


def _tunnel(rng: random.Random, _router: str) -> Obj:
    session: Json = rng.choice((rng.randbytes(12).hex(), "", None))
    match rng.choice(TUNNEL_TYPES):
        case "x-started":
            return {"type": "x-started", "sessionId": session, "status": "ready"}
        case "x-data":
            data = base64.b64encode(rng.randbytes(rng.randrange(64))).decode()
            return {"type": "x-data", "sessionId": session, "data": data}
        case _:
            return {"type": "x-error", "sessionId": session, "error": _text(rng)}


def _tunnel_fields(obj: Obj) -> Sequence[Field]:
    kind = Field(("type",), Kind.WORD, Fault.REJECT, Fault.REJECT, words=TUNNEL_TYPES)
    session = Field(("sessionId",), Kind.STRING)
    match obj["type"]:
        case "x-data":
            return (kind, session, Field(("data",), Kind.BASE64, Fault.REJECT, Fault.REJECT))
        case "x-error":
            return (kind, session, Field(("error",), Kind.STRING))
        case _:
            return (kind, session)


class SpotFiFuzzer(Fuzzer):
    """SpotFi routers: statuses, heartbeats, RPC results and terminal output nobody awaits."""

    base = "spotfi/router"
    filters = SPOTFI_FILTERS
    good_ids = ("rtr-3b80883c", "rtr-0001", "rtr-0002")
    templates = (
        Template(
            "metrics",
            lambda r, _o: f"spotfi/router/{r}/metrics",
            _metrics,
            lambda _obj: METRICS_FIELDS,
            _metrics_effects,
            free=("timestamp", "routerId"),
        ),
        Template(
            "rpc result",
            lambda r, _o: f"spotfi/router/{r}/rpc/response",
            _rpc_result,
            lambda _obj: RPC_FIELDS,
            _nothing,
            free=("type", "result"),
        ),
        Template(
            "terminal",
            lambda r, _o: f"spotfi/router/{r}/x/out",
            _tunnel,
            _tunnel_fields,
            _nothing,
            free=("status", "timestamp"),
        ),
    )

    def draw(self) -> Drawn:
        """A fifth statuses, some of the bridge's own faults, then the generic mix."""
        roll = self.rng.random()
        if roll < 0.2:
            return self.status_words(
                lambda r, _o: f"spotfi/router/{r}/status",
                SPOTFI_STATUS_VALID,
                SPOTFI_STATUS_INVALID,
                "status",
            )
        if roll < 0.28:
            return self.quirk()
        return super().draw()

    def quirk(self) -> Drawn:
        """The bridge's known faults: free above total, a failed `system info`, bad ids."""
        rng = self.rng
        router = rng.choice(self.good_ids)
        topic = f"spotfi/router/{router}/metrics"
        obj = _metrics(rng, router)
        roll = rng.random()
        if roll < 0.3:
            obj["metrics"]["freeMemory"] = obj["metrics"]["totalMemory"] + rng.randrange(1, 10**6)
            effects = _metrics_effects(router, without(obj, ("metrics", "freeMemory")))
            attack = "free memory above total"
        elif roll < 0.55:
            users = rng.randrange(50)
            obj["metrics"] = {
                "uptime": "%!f(<nil>)",
                "cpuLoad": 0,
                "totalMemory": 0,
                "freeMemory": 0,
                "activeUsers": users,
            }
            # No problem: the readings of the failed call are unknown, not zero.
            unknown = ("cpu_load", "memory_used", "total_memory", "free_memory")
            effects = [Effect(router), Effect(router, "active_users", users)]
            effects += [Effect(router, key, None) for key in unknown]
            return Drawn(topic, encode(rng, obj), Expect.VALID, "system info failed", effects)
        elif roll < 0.8:
            obj["metrics"]["uptime"] = rng.choice(UPTIME_ATTACKS)
            effects = _metrics_effects(router, without(obj, ("metrics", "uptime")))
            attack = "uptime not seconds"
        else:
            body = _rpc_result(rng, router) | {"id": rng.choice(("", True, 1.5, [], {}, None))}
            topic = f"spotfi/router/{router}/rpc/response"
            return Drawn(topic, encode(rng, body), Expect.INVALID, "rpc id missing or wrong")
        return Drawn(topic, encode(rng, obj), Expect.INVALID, attack, effects, partial=True)

    def off_scheme(self, device: str) -> list[tuple[str, Expect]]:
        """Also the topics we publish on."""
        return [
            *super().off_scheme(device),
            (f"spotfi/router/{device}/x/in", Expect.UNDELIVERED),
            (f"spotfi/router/{device}/rpc/request", Expect.UNDELIVERED),
            (f"spotfi/router/{device}/rpc", Expect.UNDELIVERED),
            (f"spotfi/{device}/status", Expect.UNDELIVERED),
        ]


# --- Container logs -------------------------------------------------------------------------------

LOGS_BASE: Final = "container-manager/logs"
LOGS_FILTERS: Final = (f"{LOGS_BASE}/#",)
LEVEL_WORDS: Final = ("debug", "info", "warn", "error", "warning", "fatal")
LEVEL_NAMES: Final = {"warning": "warn", "fatal": "error"}
LOG_SOURCES: Final = (
    "1:backup",
    "unknown:db",
    "-1:svc-neg",
    "007:web",
    "system",
    "manager",
    "other",
)
LOG_FIELDS: Final = (
    Field(("message",), Kind.STRING, Fault.REJECT, Fault.REJECT),
    Field(("level",), Kind.WORD, Fault.REJECT, Fault.REJECT, words=LEVEL_WORDS, any_case=True),
    Field(("timestamp",), Kind.WHOLE, maximum=MAX_TIMESTAMP_MS),
    Field(("source",), Kind.OBJECT),
    Field(("source", "type"), Kind.STRING),
    Field(("source", "name"), Kind.STRING),
    Field(("serviceId",), Kind.WHOLE, minimum=-(2**63)),
    Field(("serviceName",), Kind.STRING),
    Field(("containerId",), Kind.STRING),
    Field(("isStdErr",), Kind.BOOLEAN),
    Field(("isSystem",), Kind.BOOLEAN),
)


def level_of(word: str) -> str:
    """Return the level a level word counts as."""
    lowered = word.lower()
    return LEVEL_NAMES.get(lowered, lowered)


def _log(rng: random.Random, source: str) -> Obj:
    service = source.rpartition(":")[2]
    level = rng.choice(LEVEL_WORDS)
    return {
        "message": rng.choice((f"line {rng.randrange(10**6)}", *TEXT[:6])),
        "timestamp": rng.randrange(1_700_000_000_000, 1_800_000_000_000),
        "level": level.upper() if rng.random() < 0.1 else level,
        "source": {"type": "container", "name": service},
        "serviceId": rng.randrange(1000, 2000),
        "serviceName": service,
        "containerId": rng.randbytes(6).hex(),
        "isStdErr": rng.random() < 0.5,
        "isSystem": False,
    }


def _log_effects(source: str, obj: Obj) -> list[Effect]:
    return [Effect(source), Effect(source, level_of(obj["level"]), obj["message"])]


class ContainerLogsFuzzer(Fuzzer):
    """Container log streams: single logs and batches, on MqttLogBackend's topic scheme."""

    base = LOGS_BASE
    filters = LOGS_FILTERS
    good_ids = LOG_SOURCES

    def __init__(self, seed: str) -> None:
        """Seed the stream."""
        super().__init__(seed)
        self.templates = (
            Template(
                "log",
                lambda source, _o: self.topic_for(source),
                _log,
                lambda _obj: LOG_FIELDS,
                _log_effects,
                free=("id", "extra"),
            ),
        )

    def topic_for(self, source: str) -> str:
        """The topic of a source's logs, at any level (the payload's level counts)."""
        app, _, service = source.partition(":")
        level = self.rng.choice(LEVEL_WORDS)
        return "/".join((LOGS_BASE, app, service, level) if service else (LOGS_BASE, app, level))

    def odd_id(self) -> str:
        """A service with an odd but safe name."""
        return f"1:{super().odd_id()}"

    def draw(self) -> Drawn:
        """A third batches, the rest single logs and the generic attacks."""
        if self.rng.random() < 0.33:
            return self.batch()
        return super().draw()

    def batch(self) -> Drawn:
        """A batch whose entries may each be good, partly bad, refused or not objects."""
        rng = self.rng
        source = self.odd_id() if rng.random() < 0.1 else rng.choice(self.good_ids)
        topic = self.topic_for(source) + "/batch"
        entries: list[Json] = []
        effects: list[Effect] = []
        faults: set[Fault] = set()
        for _ in range(rng.randrange(30) if rng.random() < 0.97 else 400):
            log = _log(rng, source)
            roll = rng.random()
            if roll < 0.8:
                entries.append(log)
                effects += _log_effects(source, log)
            elif roll < 0.95:
                mutation = mutate_field(rng, log, LOG_FIELDS)
                entries.append(mutation.obj)
                # A refused entry is one problem of the batch: the other entries still count.
                faults.add(Fault.PROBLEM if mutation.fault is Fault.REJECT else mutation.fault)
                if mutation.applies is not None:
                    effects += _log_effects(source, mutation.applies)
            else:
                entries.append(rng.choice((1, "log", None, [], True)))
                faults.add(Fault.PROBLEM)
        body: Obj = {"count": len(entries), "logs": entries}
        if rng.random() < 0.1:
            body["count"] = rng.choice((len(entries) + 1, "3", -1, 1.5, True))
            faults.add(Fault.PROBLEM)
        if rng.random() < 0.03:
            body["logs"] = rng.choice(({}, "x", 1, None))
            faults.add(Fault.REJECT)
        payload = encode(rng, body)
        if Fault.BROKEN in faults or Fault.REJECT in faults or len(payload) > PAYLOAD_LIMIT:
            attack = "batch over 64 KiB" if len(payload) > PAYLOAD_LIMIT else "broken batch"
            return Drawn(topic, payload, Expect.INVALID, attack)
        if effects:
            effects.insert(0, Effect(source))
        if Fault.PROBLEM in faults:
            attack = "batch with bad entries"
            return Drawn(topic, payload, Expect.INVALID, attack, effects, bool(effects))
        return Drawn(topic, payload, Expect.VALID, "batch", effects)

    def topic_attack(self) -> Drawn:
        """Unsafe service names and app ids, invalid UTF-8, topics off the scheme."""
        drawn = super().topic_attack()
        if drawn.attack != "unsafe id in topic":
            return drawn
        bad = self.rng.choice(UNSAFE_IDS + SLASHED_IDS)
        level = self.rng.choice(LEVEL_WORDS)
        topic = self.rng.choice((f"{LOGS_BASE}/1/{bad}/{level}", f"{LOGS_BASE}/{bad}/svc/{level}"))
        return Drawn(topic, drawn.payload, Expect.INVALID, drawn.attack)

    def off_scheme(self, device: str) -> list[tuple[str, Expect]]:
        """Under `{base}/#` everything below the base is delivered, and all of it invalid."""
        base = LOGS_BASE
        return [
            (base, Expect.INVALID),
            (f"{base}/", Expect.INVALID),
            (f"{base}/x/info", Expect.INVALID),
            (f"{base}/info", Expect.INVALID),
            (f"{base}/batch", Expect.INVALID),
            (f"{base}/system/info/batch/batch", Expect.INVALID),
            (f"{base}/1/svc/bogus", Expect.INVALID),
            (f"{base}/1/svc/extra/info", Expect.INVALID),
            (f"{base}/abc/svc/info", Expect.INVALID),
            (f"{base}/1.5/svc/info", Expect.INVALID),
            (f"{base}/system/INFO!", Expect.INVALID),
            (f"{base}x/system/info", Expect.UNDELIVERED),
            ("container-manager/system/info", Expect.UNDELIVERED),
            (f"x/{base}/system/info", Expect.UNDELIVERED),
        ]
