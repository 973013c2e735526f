"""Property tests for the SpotFi protocol: robustness, the allow-list, round trips."""

from __future__ import annotations

import base64
import binascii
from fnmatch import fnmatchcase
import re

from hypothesis import example, given, strategies as st
import orjson
import pytest

from custom_components.mqtt_fleet.protocol.payload import InvalidMessage
from custom_components.mqtt_fleet.protocol.spotfi import (
    DEFAULT_RPC_ALLOW_LIST,
    Metrics,
    RouterStatus,
    RpcResult,
    SpotFiMessage,
    SpotFiProtocol,
    TunnelData,
    TunnelMessage,
    is_allow_pattern,
    rpc_allowed,
    rpc_name_problem,
)
from custom_components.mqtt_fleet.protocol.topics import UnsafeIdError, is_safe_id

from .strategies import (
    FAST,
    HEX_24,
    check_problems,
    payloads,
    random_case,
    spotfi_metrics,
    spotfi_rpc_results,
    spotfi_tunnel,
    status_payloads,
    topics_under,
    whitespace,
)

SPOTFI = SpotFiProtocol("spotfi/router")

SAFE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
PATTERN_CHARS = (SAFE_NAME_CHARS - {"."}) | {"*"}

# Matching topic and payload pairs, so that parsing gets past the first checks.
SPOTFI_MESSAGES = st.one_of(
    st.tuples(topics_under("spotfi/router"), payloads),
    st.tuples(st.just("spotfi/router/r1/status"), status_payloads),
    st.tuples(st.just("spotfi/router/r1/metrics"), spotfi_metrics.map(orjson.dumps)),
    st.tuples(st.just("spotfi/router/r1/rpc/response"), spotfi_rpc_results.map(orjson.dumps)),
    st.tuples(st.just("spotfi/router/r1/x/out"), spotfi_tunnel.map(orjson.dumps)),
)


# --- (a) parse only ever raises InvalidMessage ----------------------------------------


@FAST
@given(message=SPOTFI_MESSAGES)
def test_spotfi_parse_only_raises_invalid_message(message: tuple[str, bytes]) -> None:
    topic, payload = message
    try:
        message = SPOTFI.parse(topic, payload)
    except InvalidMessage as err:
        reason = err.reason
    else:
        reason = None
    if reason is not None:
        assert isinstance(reason, str)
        assert reason
        return
    assert isinstance(message, SpotFiMessage)
    assert is_safe_id(message.router)
    assert topic.split("/")[2] == message.router
    check_problems(message.problems)
    if isinstance(message, RouterStatus):
        assert type(message.online) is bool
    if isinstance(message, Metrics):
        for value in (
            message.uptime,
            message.total_memory,
            message.free_memory,
            message.active_users,
        ):
            assert value is None or (type(value) is int and value >= 0)
        assert message.cpu_load is None or message.cpu_load >= 0
        if message.total_memory is not None and message.free_memory is not None:
            assert message.free_memory <= message.total_memory
        used = message.memory_used
        assert used is None or (isinstance(used, float) and 0.0 <= used <= 100.0)
    if isinstance(message, RpcResult):
        assert isinstance(message.request_id, str)
        assert message.request_id
    if isinstance(message, TunnelMessage):
        assert message.session is None or (isinstance(message.session, str) and message.session)
    if isinstance(message, TunnelData):
        assert isinstance(message.data, bytes)


@FAST
@given(
    topic=st.sampled_from(["spotfi/router/r1/x/out"]),
    data=st.text(max_size=20),
    session=st.one_of(st.none(), st.text(max_size=5)),
)
@example(topic="spotfi/router/r1/x/out", data="\u00e9", session=None)
@example(topic="spotfi/router/r1/x/out", data="aGk=\u00a0", session="s")
@example(topic="spotfi/router/r1/x/out", data="aGk=", session="")
def test_x_data_with_any_text_only_raises_invalid_message(
    topic: str, data: str, session: str | None
) -> None:
    body: dict[str, object] = {"type": "x-data", "data": data}
    if session is not None:
        body["sessionId"] = session
    try:
        # As bytes, non-ASCII text is binascii.Error too: the reference needs no other case.
        expected = base64.b64decode(data.encode(), validate=True)
    except binascii.Error:
        with pytest.raises(InvalidMessage) as err:
            SPOTFI.parse(topic, orjson.dumps(body))
        assert err.value.reason == "data: not base64"
    else:
        assert SPOTFI.parse(topic, orjson.dumps(body)) == TunnelData(
            router="r1", session=session or None, data=expected
        )


# --- (b) status words ----------------------------------------------------------------


@FAST
@given(
    word=st.sampled_from(["online", "offline"]).flatmap(
        lambda word: st.tuples(st.just(word), random_case(word))
    ),
    before=whitespace,
    after=whitespace,
    form=st.sampled_from(["plain", "object", "string"]),
)
def test_spotfi_status_words_in_any_case(
    word: tuple[str, str], before: str, after: str, form: str
) -> None:
    canonical, written = word
    padded = f"{before}{written}{after}"
    if form == "object":
        payload = orjson.dumps({"status": padded})
    elif form == "string":
        payload = orjson.dumps(padded)
    else:
        payload = padded.encode()
    message = SPOTFI.parse("spotfi/router/r1/status", payload)
    assert message == RouterStatus(router="r1", online=canonical == "online")


# --- (c) metrics round trip -----------------------------------------------------------


@FAST
@given(
    uptime=st.integers(min_value=0, max_value=10**12),
    uptime_as_string=st.booleans(),
    cpu=st.floats(min_value=0, max_value=1000, allow_nan=False),
    total=st.integers(min_value=0, max_value=2**53),
    free_share=st.floats(min_value=0, max_value=1),
    users=st.integers(min_value=0, max_value=10**6),
)
def test_metrics_round_trip(
    uptime: int,
    uptime_as_string: bool,
    cpu: float,
    total: int,
    free_share: float,
    users: int,
) -> None:
    free = int(total * free_share)
    body = {
        "type": "metrics",
        "metrics": {
            "uptime": str(uptime) if uptime_as_string else uptime,
            "cpuLoad": cpu,
            "totalMemory": total,
            "freeMemory": free,
            "activeUsers": users,
        },
    }
    message = SPOTFI.parse(
        "spotfi/router/r1/metrics", orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    )
    assert message == Metrics(
        router="r1",
        uptime=uptime,
        cpu_load=cpu,
        total_memory=total,
        free_memory=free,
        active_users=users,
    )
    assert isinstance(message, Metrics)
    if total == 0:
        assert message.memory_used is None
    else:
        assert message.memory_used is not None
        assert 0.0 <= message.memory_used <= 100.0


# --- (d) rpc_allowed ------------------------------------------------------------------


SAFE_LEVEL_ALPHABET = "ab1_-"
safe_levels = st.text(alphabet=SAFE_LEVEL_ALPHABET, min_size=1, max_size=4)
safe_paths = st.lists(safe_levels, min_size=1, max_size=3).map(".".join)
pattern_levels = st.text(alphabet=SAFE_LEVEL_ALPHABET + "*", min_size=1, max_size=4)
# What is_allow_pattern accepts: the first level names the ubus object, without a `*`.
safe_patterns = st.tuples(safe_levels, st.lists(pattern_levels, min_size=1, max_size=4)).map(
    lambda parts: ".".join([parts[0], *parts[1]])
)
# The same with a `*` allowed anywhere: is_allow_pattern refuses a `*` in the first level.
star_patterns = st.lists(pattern_levels, min_size=2, max_size=5).map(".".join)

# Everything-allowing lists, refused by is_allow_pattern but matched by rpc_allowed all the
# same: only the name check stands between a name and the router.
PERMISSIVE = ["*.*", "*.*.*", "*.*.*.*", "*.*.*.*.*", "*.*.*.*.*.*", *DEFAULT_RPC_ALLOW_LIST]

odd_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(".*?[]()|$^+\\ \t\n\x00/;&\u0430\u0455\u200b\uff53")),
        st.characters(),
        st.sampled_from(list(SAFE_NAME_CHARS)),
    ),
    max_size=12,
)


def reference_is_allow_pattern(pattern: str) -> bool:
    """Two levels or more of safe characters or `*`, and no `*` in the first level."""
    levels = pattern.split(".")
    return (
        len(levels) >= 2
        and all(level and set(level) <= PATTERN_CHARS for level in levels)
        and "*" not in levels[0]
    )


def reference_allowed(path: str, method: str, patterns: list[str]) -> bool:
    """Split on dots and match level by level; `*` cannot cross a level."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", path):
        return False
    if not re.fullmatch(r"[A-Za-z0-9_-]+", method):
        return False
    levels = [*path.split("."), method]
    for pattern in patterns:
        pattern_parts = pattern.split(".")
        if len(pattern_parts) == len(levels) and all(
            fnmatchcase(level, part) for level, part in zip(levels, pattern_parts, strict=True)
        ):
            return True
    return False


@FAST
@given(path=odd_text, method=odd_text)
@example(path="network.interface.a.b", method="status")
@example(path="system", method="boar.")
@example(path="system ", method="board")
@example(path="system", method="*")
def test_rpc_allowed_never_allows_unsafe_characters(path: str, method: str) -> None:
    allowed = rpc_allowed(path, method, PERMISSIVE)
    if not (set(path) <= SAFE_NAME_CHARS and set(method) <= SAFE_NAME_CHARS - {"."}):
        assert not allowed
        assert rpc_name_problem(path, method) is not None
    if allowed:
        assert path
        assert method
        assert "" not in path.split(".")
        assert reference_allowed(path, method, PERMISSIVE)


# Few letters so that random names and patterns often meet.
tiny_levels = st.sampled_from(["a", "b", "ab", "ba"])
tiny_paths = st.lists(tiny_levels, min_size=1, max_size=2).map(".".join)
tiny_pattern_levels = st.sampled_from(["*", "*", "a", "b", "a*", "*b", "**", "ab"])
tiny_patterns = st.tuples(tiny_levels, st.lists(tiny_pattern_levels, min_size=1, max_size=2)).map(
    lambda parts: ".".join([parts[0], *parts[1]])
)
tiny_star_patterns = st.lists(tiny_pattern_levels, min_size=2, max_size=3).map(".".join)


@FAST
@given(pattern=st.one_of(safe_patterns, star_patterns, tiny_star_patterns, odd_text))
@example(pattern="*.*")
@example(pattern="*.board")
@example(pattern="net*.st*")
@example(pattern="system.*")
@example(pattern="network.interface.*.status")
def test_is_allow_pattern_agrees_with_the_reference(pattern: str) -> None:
    assert is_allow_pattern(pattern) is reference_is_allow_pattern(pattern)


@FAST
@given(
    path=st.one_of(safe_paths, tiny_paths),
    method=st.one_of(safe_levels, tiny_levels),
    pattern=st.one_of(safe_patterns, star_patterns, tiny_star_patterns),
)
def test_an_accepted_pattern_allows_only_its_own_ubus_object(
    path: str, method: str, pattern: str
) -> None:
    if is_allow_pattern(pattern) and rpc_allowed(path, method, [pattern]):
        assert path.split(".", maxsplit=1)[0] == pattern.split(".", maxsplit=1)[0]


@FAST
@given(
    path=st.one_of(safe_paths, tiny_paths),
    method=st.one_of(safe_levels, tiny_levels),
    patterns=st.lists(st.one_of(safe_patterns, tiny_patterns), max_size=4),
)
def test_rpc_allowed_agrees_with_the_reference(path: str, method: str, patterns: list[str]) -> None:
    assert all(is_allow_pattern(pattern) for pattern in patterns)
    assert rpc_allowed(path, method, patterns) is reference_allowed(path, method, patterns)


@FAST
@given(
    path=st.one_of(safe_paths, tiny_paths),
    method=st.one_of(safe_levels, tiny_levels),
    patterns=st.lists(st.one_of(star_patterns, tiny_star_patterns), max_size=4),
)
def test_rpc_allowed_matches_even_patterns_it_would_refuse(
    path: str, method: str, patterns: list[str]
) -> None:
    # rpc_allowed does not vet the list it is given: is_allow_pattern does that earlier.
    assert rpc_allowed(path, method, patterns) is reference_allowed(path, method, patterns)


@st.composite
def names_with_derived_patterns(draw: st.DrawFn) -> tuple[str, str, str]:
    """A safe name and a pattern made from it, so that matches are common."""
    levels = draw(st.lists(safe_levels, min_size=2, max_size=5))
    pattern_parts = []
    for level in levels:
        choice = draw(st.sampled_from(["same", "star", "prefix", "suffix", "other", "extra"]))
        if choice == "same":
            pattern_parts.append(level)
        elif choice == "star":
            pattern_parts.append("*")
        elif choice == "prefix":
            pattern_parts.append(level[: draw(st.integers(0, len(level)))] + "*")
        elif choice == "suffix":
            pattern_parts.append("*" + level[draw(st.integers(0, len(level))) :])
        elif choice == "other":
            pattern_parts.append(draw(pattern_levels))
        else:
            pattern_parts.extend(["*", "*"])
    return ".".join(levels[:-1]), levels[-1], ".".join(pattern_parts)


@FAST
@given(case=names_with_derived_patterns())
def test_rpc_allowed_agrees_with_the_reference_on_near_matches(case: tuple[str, str, str]) -> None:
    path, method, pattern = case
    assert rpc_allowed(path, method, [pattern]) is reference_allowed(path, method, [pattern])


@FAST
@given(path=safe_paths, method=safe_levels)
def test_a_star_never_spans_two_levels(path: str, method: str) -> None:
    levels = [*path.split("."), method]
    one_star_per_level = ".".join("*" for _ in levels)
    assert rpc_allowed(path, method, [one_star_per_level])
    if len(levels) > 2:
        fewer = ".".join("*" for _ in levels[:-1])
        assert not rpc_allowed(path, method, [fewer])
    assert not rpc_allowed(path, method, [f"{one_star_per_level}.*"])


# --- (e) round trips and fresh ids ----------------------------------------------------


@FAST
@given(data=st.binary(max_size=2048), session=st.text(min_size=1, max_size=30))
def test_tunnel_data_round_trip(data: bytes, session: str) -> None:
    outgoing = SPOTFI.tunnel_data("r1", session, data)
    sent = orjson.loads(outgoing.payload)
    assert sent == {"type": "x-data", "sessionId": session, "data": sent["data"]}
    assert base64.b64decode(sent["data"], validate=True) == data
    # The router echoes terminal output the same way, Go-marshalled (keys sorted).
    reply = orjson.dumps(
        {"type": "x-data", "sessionId": session, "data": sent["data"]},
        option=orjson.OPT_SORT_KEYS,
    )
    message = SPOTFI.parse("spotfi/router/r1/x/out", reply)
    assert message == TunnelData(router="r1", session=session, data=data)


@FAST
@given(server=st.text(max_size=12))
def test_spotfi_builders_accept_exactly_the_safe_ids(server: str) -> None:
    if is_safe_id(server):
        assert SPOTFI.tunnel_stop(server, "s").topic == f"spotfi/router/{server}/x/in"
    else:
        with pytest.raises(UnsafeIdError):
            SPOTFI.rpc_request(server, "system", "board", {})


def test_rpc_request_ids_are_unique_across_many_calls() -> None:
    ids = [SPOTFI.rpc_request("r1", "system", "board", {})[1] for _ in range(2000)]
    assert len(set(ids)) == len(ids) == 2000
    assert all(HEX_24.fullmatch(request_id) for request_id in ids)
