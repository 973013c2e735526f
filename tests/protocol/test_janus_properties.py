"""Property tests for the Janus protocol: robustness, status words, transactions."""

from __future__ import annotations

from hypothesis import given, strategies as st
import orjson
import pytest

from custom_components.mqtt_fleet.protocol.janus import (
    AdminError,
    AdminRequest,
    AdminSuccess,
    JanusMessage,
    JanusProtocol,
    ServerInfo,
    ServerStatus,
)
from custom_components.mqtt_fleet.protocol.payload import InvalidMessage, display_text
from custom_components.mqtt_fleet.protocol.topics import UnsafeIdError, is_safe_id

from .strategies import (
    FAST,
    HEX_24,
    check_problems,
    janus_replies,
    payloads,
    random_case,
    status_payloads,
    topics_under,
    whitespace,
)

JANUS = JanusProtocol("janus")

# Matching topic and payload pairs, so that parsing gets past the first checks.
# Matching topic and payload pairs, so that parsing gets past the first checks.
JANUS_MESSAGES = st.one_of(
    st.tuples(topics_under("janus"), payloads),
    st.tuples(st.just("janus/gxy1/status"), status_payloads),
    st.tuples(st.just("janus/gxy1/from-janus-admin"), janus_replies.map(orjson.dumps)),
)


# --- (a) parse only ever raises InvalidMessage ----------------------------------------


@FAST
@given(message=JANUS_MESSAGES)
def test_janus_parse_only_raises_invalid_message(message: tuple[str, bytes]) -> None:
    topic, payload = message
    try:
        message = JANUS.parse(topic, payload)
    except InvalidMessage as err:
        reason = err.reason
    else:
        reason = None
    if reason is not None:
        assert isinstance(reason, str)
        assert reason
        return
    assert isinstance(message, JanusMessage)
    assert is_safe_id(message.server)
    assert topic.split("/")[1] == message.server
    check_problems(message.problems)
    if isinstance(message, ServerStatus):
        assert type(message.online) is bool
    else:
        transaction = message.transaction  # type: ignore[attr-defined]
        assert transaction is None or (isinstance(transaction, str) and transaction)
    if isinstance(message, AdminSuccess) and message.sessions is not None:
        assert all(type(session) is int for session in message.sessions)
    if isinstance(message, AdminError):
        assert isinstance(message.reason, str)
        assert message.code is None or (type(message.code) is int and message.code >= 0)
    if isinstance(message, ServerInfo):  # it becomes the server's firmware: display text
        assert message.version is None or display_text(message.version) == message.version


# --- (b) status words ----------------------------------------------------------------


@FAST
@given(
    word=st.sampled_from(["online", "offline", "true", "false"]).flatmap(
        lambda word: st.tuples(st.just(word), random_case(word))
    ),
    before=whitespace,
    after=whitespace,
)
def test_janus_status_words_in_any_case_and_whitespace(
    word: tuple[str, str], before: str, after: str
) -> None:
    canonical, written = word
    message = JANUS.parse("janus/gxy1/status", f"{before}{written}{after}".encode())
    assert message == ServerStatus(server="gxy1", online=canonical in ("online", "true"))


# --- (e) round trips and fresh ids ----------------------------------------------------


@FAST
@given(transaction=st.text(min_size=1, max_size=40), secret=st.text(max_size=20))
def test_janus_admin_request_keeps_a_given_transaction(transaction: str, secret: str) -> None:
    outgoing, returned = JANUS.admin_request(
        "gxy1", AdminRequest.LIST_SESSIONS, secret, transaction
    )
    assert returned == transaction
    body = orjson.loads(outgoing.payload)
    assert body["transaction"] == transaction
    assert body.get("admin_secret") == (secret or None)
    reply = orjson.dumps({"janus": "success", "transaction": transaction, "sessions": [1]})
    assert JANUS.parse("janus/gxy1/from-janus-admin", reply) == AdminSuccess(
        server="gxy1", transaction=transaction, sessions=(1,)
    )


@FAST
@given(server=st.text(max_size=12))
def test_janus_builders_accept_exactly_the_safe_ids(server: str) -> None:
    if is_safe_id(server):
        outgoing, _ = JANUS.admin_request(server, AdminRequest.INFO, None, "t")
        assert outgoing.topic == f"janus/{server}/to-janus-admin"
    else:
        with pytest.raises(UnsafeIdError):
            JANUS.admin_request(server, AdminRequest.INFO, None, "t")


def test_janus_transactions_are_unique_across_many_calls() -> None:
    transactions = [
        JANUS.admin_request("gxy1", kind, "s")[1] for _ in range(1050) for kind in AdminRequest
    ]
    assert len(set(transactions)) == len(transactions) == 1050 * len(AdminRequest)
    assert all(HEX_24.fullmatch(transaction) for transaction in transactions)
