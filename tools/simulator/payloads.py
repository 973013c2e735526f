"""Payload helpers for every simulated device family: clocks, drifting readings, JSON.

Each device family encodes its payloads the way its real firmware or service does:
Python's json for jansson-style JSON, ``go_json`` for Go's encoding/json.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
import json
import math
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import random

Payload = dict[str, object]


def iso_now() -> str:
    """UTC time in the firmware's format (whole seconds, trailing Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def walk(rng: random.Random, value: float, step: float, low: float, high: float) -> float:
    """Bounded random walk, so readings drift like real sensors instead of jumping."""
    value += rng.gauss(0.0, step)
    if value < low:
        value = 2 * low - value
    elif value > high:
        value = 2 * high - value
    return min(max(value, low), high)


def parse_object(raw: bytes) -> Payload | None:
    """Decode a command payload; None for anything that is not a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError, RecursionError:
        return None
    return data if isinstance(data, dict) else None


def reject_constant(name: str) -> NoReturn:
    """Refuse NaN and Infinity: Python's json accepts them, jansson and Go do not."""
    raise ValueError(f"invalid token near '{name}'")


def quoted(value: object) -> str:
    """Quote a received value as JSON, cut short so a huge payload cannot bloat a report."""
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


GO_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_float(value: float) -> str:
    """Format a float as Go's encoding/json does: shortest digits, '12' for 12.0."""
    if not math.isfinite(value):
        raise ValueError(f"Go's encoding/json refuses {value}")
    size = abs(value)
    if size != 0 and (size < 1e-6 or size >= 1e21):
        text = repr(value)  # shortest digits in exponent form, as Go's 'e' format
        return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text  # Go writes e-7, not e-07
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_json(value: object) -> str:
    """Encode like Go's json.Marshal of a map: sorted keys, compact, `<>&` escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(GO_HTML_ESCAPES)
    if isinstance(value, dict):
        items = sorted((str(key), item) for key, item in value.items())
        return "{" + ",".join(f"{go_json(key)}:{go_json(item)}" for key, item in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
