"""Hypothesis strategies shared by the Janus and SpotFi property tests.

Both parsers get the same hostile mix: any bytes, any JSON, and well-formed messages of
either family (a SpotFi heartbeat on a Janus topic, and the other way round).
"""

from __future__ import annotations

import base64
import re

from hypothesis import settings, strategies as st
import orjson

# database=None: no .hypothesis directory is written into the checkout.
FAST = settings(max_examples=150, deadline=None, database=None)
HEX_24 = re.compile(r"[0-9a-f]{24}")


# --- strategies -----------------------------------------------------------------------


topic_words = st.sampled_from(
    [
        "status",
        "from-janus-admin",
        "to-janus-admin",
        "metrics",
        "rpc",
        "response",
        "request",
        "x",
        "out",
        "in",
        "janus",
        "spotfi",
        "router",
        "gxy1",
        "r1",
        "",
        "+",
        "#",
        "\x00",
        "a\x00b",
        "x" * 129,
        ".",
        "..",
        "$SYS",
    ]
)
topic_levels = st.one_of(topic_words, st.text(max_size=8))


def topics_under(base: str) -> st.SearchStrategy[str]:
    """Topics under `base` of every depth, plus anything at all."""
    return st.one_of(
        st.lists(topic_levels, max_size=5).map(lambda levels: "/".join([base, *levels])),
        st.text(max_size=40),
    )


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "success",
            "error",
            "server_info",
            "pong",
            "online",
            "ONLINE",
            "offline",
            "metrics",
            "rpc-result",
            "x-started",
            "x-data",
            "x-error",
            "%!f(<nil>)",
            "86400",
            "aGk=",
            "aGk",
            "",
        ]
    ),
)
JSON_KEYS = [
    "janus",
    "transaction",
    "sessions",
    "error",
    "code",
    "reason",
    "version_string",
    "name",
    "server-name",
    "online",
    "status",
    "type",
    "metrics",
    "uptime",
    "cpuLoad",
    "totalMemory",
    "freeMemory",
    "activeUsers",
    "id",
    "result",
    "stderr",
    "sessionId",
    "data",
]
json_keys = st.one_of(st.sampled_from(JSON_KEYS), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(json_keys, children, max_size=6),
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=8)

whitespace = st.text(alphabet=" \t\r\n", max_size=3)


def field(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A field that is mostly well-formed and sometimes anything at all."""
    return st.one_of(good, good, good, json_values)


numbers = st.one_of(
    st.integers(min_value=0, max_value=2**40),
    st.floats(min_value=0, max_value=1e6),
    st.just("%!f(<nil>)"),
)
janus_replies = st.fixed_dictionaries(
    {"janus": field(st.sampled_from(["success", "error", "server_info", "pong", "ack"]))},
    optional={
        "transaction": field(st.text(max_size=8)),
        "sessions": field(st.lists(st.integers(min_value=0, max_value=2**53), max_size=4)),
        "error": field(
            st.fixed_dictionaries(
                {},
                optional={"code": field(st.integers(0, 999)), "reason": field(st.text(max_size=8))},
            )
        ),
        "version_string": field(
            st.one_of(st.text(max_size=8), st.sampled_from(["1.4\x1b[31m.3\n", "\u202e1.0\u200b"]))
        ),
        "name": field(st.text(max_size=8)),
        "server-name": field(st.text(max_size=8)),
    },
)
spotfi_metrics = st.fixed_dictionaries(
    {
        "type": field(st.just("metrics")),
        "metrics": field(
            st.fixed_dictionaries(
                {},
                optional={
                    "uptime": field(st.one_of(numbers, st.integers(0, 10**9).map(str))),
                    "cpuLoad": field(numbers),
                    "totalMemory": field(numbers),
                    "freeMemory": field(numbers),
                    "activeUsers": field(numbers),
                },
            )
        ),
    }
)
spotfi_rpc_results = st.fixed_dictionaries(
    {
        "id": field(st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63))),
        "status": field(st.sampled_from(["success", "error"])),
    },
    optional={
        "type": st.just("rpc-result"),
        "result": json_values,
        "error": field(st.text(max_size=8)),
        "stderr": field(st.text(max_size=8)),
    },
)
spotfi_tunnel = st.fixed_dictionaries(
    {"type": field(st.sampled_from(["x-started", "x-data", "x-error", "x-stop"]))},
    optional={
        "sessionId": field(st.text(max_size=6)),
        "data": field(st.binary(max_size=20).map(lambda raw: base64.b64encode(raw).decode())),
        "error": field(st.text(max_size=8)),
        "status": st.just("ready"),
    },
)
structured = st.one_of(janus_replies, spotfi_metrics, spotfi_rpc_results, spotfi_tunnel)
payloads = st.one_of(
    st.binary(max_size=200),
    json_objects.map(orjson.dumps),
    json_values.map(orjson.dumps),
    structured.map(orjson.dumps),
    structured.map(orjson.dumps),
    st.sampled_from([b"online", b"OFFLINE", b" true ", b"", b"null", b'{"online":true}']),
)

status_payloads = st.one_of(
    st.tuples(whitespace, st.sampled_from(["online", "OFFLINE", "true", "False"]), whitespace).map(
        lambda parts: "".join(parts).encode()
    ),
    st.fixed_dictionaries({"online": field(st.booleans())}).map(orjson.dumps),
    st.fixed_dictionaries({"status": field(st.sampled_from(["online", "OFFLINE"]))}).map(
        orjson.dumps
    ),
    st.sampled_from(["online", "OFFLINE", " offline ", "up"]).map(orjson.dumps),
)


def check_problems(problems: tuple[str, ...]) -> None:
    """The problems a parsed message carries: a tuple of non-empty texts."""
    assert isinstance(problems, tuple)
    assert all(isinstance(problem, str) and problem for problem in problems)


def random_case(word: str) -> st.SearchStrategy[str]:
    """`word` with each letter upper or lower case."""
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))
    )
