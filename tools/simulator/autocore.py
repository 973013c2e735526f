"""AutoCore ESP32 relay boards in both topic layouts (docs/protocols.md, "AutoCore").

Layout A boards speak the "MQTT Monitor" contract (`{base}/{device_id}/...`) and share
one connection; layout B boards run firmware v2.x (`{base}/devices/{uuid}/...`), each
on its own connection with a retained status as its Last Will.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
import json
import os
import random
import time
from typing import TYPE_CHECKING, override
import uuid

from .core import (
    LOG,
    SHUTDOWN_TIMEOUT,
    Family,
    Link,
    Runner,
    Settings,
    Will,
    drop_all,
    wait_published,
)
from .payloads import Payload, iso_now, parse_object, quoted, walk

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


@dataclass
class LayoutABoard:
    """A layout A board (MQTT Monitor contract); readings drift from its own RNG, so runs repeat."""

    device_id: str
    ip_address: str
    rng: random.Random
    relays: list[bool]
    triggered_by: list[str]
    temperature: float
    humidity: float
    voltage: float
    memory_free: float
    pressure: float | None  # only the first board has the extra sensor


class LayoutAFamily(Family):
    """MQTT Monitor contract boards (`{base}/{device_id}/...`), all on one connection."""

    key = "layout_a"
    SCREENS = ("main", "settings")
    ELEMENTS = ("btn_1", "btn_2", "btn_3", "btn_4", "slider_1")
    ACTIONS = ("press", "long_press", "release")

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the boards; each gets its own RNG stream from rng."""
        super().__init__(settings, runner)
        self._boards: dict[str, LayoutABoard] = {}
        for index in range(settings.layout_a):
            board_rng = random.Random(rng.getrandbits(64))
            board = LayoutABoard(
                device_id=f"ESP32_{index + 1:03d}",
                ip_address=f"192.168.{1 + index // 100}.{100 + index % 100}",
                rng=board_rng,
                relays=[False] * settings.relays_a,
                triggered_by=["power_on"] * settings.relays_a,
                temperature=board_rng.uniform(22.0, 28.0),
                humidity=board_rng.uniform(35.0, 65.0),
                voltage=board_rng.uniform(3.20, 3.35),
                memory_free=board_rng.uniform(40000, 50000),
                pressure=board_rng.uniform(1005.0, 1020.0) if index == 0 else None,
            )
            self._boards[board.device_id] = board
        self._prefix = f"{settings.base}/"
        self._link = Link(
            settings,
            runner,
            client_id=f"sim-autocore-a-{os.getpid()}",
            subscriptions=[f"{settings.base}/+/relay/+/set"],
            on_message=self._on_command,
            on_reconnect=self._announce,
        )

    @override
    def ids(self) -> list[str]:
        return list(self._boards)

    @override
    def links(self) -> list[Link]:
        return [self._link]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        infos: list[mqtt.MQTTMessageInfo] = []
        for board in self._boards.values():
            boot: Payload = {
                "reason": "power_on",
                "firmware_version": "1.2.0",
                "timestamp": iso_now(),
            }
            infos.append(self._link.publish(self._topic(board, "system/boot"), boot, qos=1))
            infos.append(self._publish_status(board, "online"))
            infos.append(self._publish_telemetry(board))
            infos.extend(self._publish_relay(board, n) for n in range(len(board.relays)))
        settings = self.settings
        self.runner.every(settings.status_interval, self._status_tick)
        self.runner.every(settings.telemetry_interval, self._telemetry_tick)
        if settings.interaction_interval > 0:
            for board in self._boards.values():
                self.runner.every(
                    settings.interaction_interval,
                    partial(self._publish_interaction, board),
                    first=settings.interaction_interval * board.rng.uniform(0.2, 1.0),
                    jitter=partial(board.rng.uniform, 0.5, 1.5),
                )
        return infos

    @override
    def stop(self) -> None:
        infos = [self._publish_status(board, "offline") for board in self._boards.values()]
        if not wait_published(infos, time.monotonic() + SHUTDOWN_TIMEOUT):
            LOG.warning("layout A: not every offline status left before shutdown")
        self._link.close()

    def _topic(self, board: LayoutABoard, suffix: str) -> str:
        return f"{self._prefix}{board.device_id}/{suffix}"

    def _announce(self) -> None:
        for board in self._boards.values():
            self._publish_status(board, "online")
            for n in range(len(board.relays)):
                self._publish_relay(board, n)

    def _status_tick(self) -> None:
        for board in self._boards.values():
            self._publish_status(board, "online")

    def _telemetry_tick(self) -> None:
        for board in self._boards.values():
            self._publish_telemetry(board)

    def _publish_status(self, board: LayoutABoard, status: str) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "device_id": board.device_id,
            "status": status,
            "ip_address": board.ip_address,
            "firmware_version": "1.2.0",
            "uptime": int(time.monotonic() - self.runner.started),
            "timestamp": iso_now(),
        }
        return self._link.publish(self._topic(board, "status"), payload)

    def _publish_telemetry(self, board: LayoutABoard) -> mqtt.MQTTMessageInfo:
        rng = board.rng
        board.temperature = walk(rng, board.temperature, 0.3, 22.0, 28.0)
        board.humidity = walk(rng, board.humidity, 1.0, 35.0, 65.0)
        board.voltage = walk(rng, board.voltage, 0.01, 3.20, 3.35)
        board.memory_free = walk(rng, board.memory_free, 400.0, 40000, 50000)
        payload: Payload = {
            "device_id": board.device_id,
            "temperature": round(board.temperature, 1),
            "humidity": round(board.humidity, 1),
            "voltage": round(board.voltage, 2),
            "memory_free": int(board.memory_free),
        }
        if board.pressure is not None:
            board.pressure = walk(rng, board.pressure, 0.3, 995.0, 1030.0)
            payload["pressure"] = round(board.pressure, 1)
        payload["timestamp"] = iso_now()
        return self._link.publish(self._topic(board, "telemetry"), payload)

    def _publish_relay(self, board: LayoutABoard, index: int) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "device_id": board.device_id,
            "relay_index": index,
            "state": board.relays[index],
            "triggered_by": board.triggered_by[index],
            "timestamp": iso_now(),
        }
        # Retained, so a monitor that starts later still learns every relay's state.
        return self._link.publish(
            self._topic(board, f"relay/{index}/status"), payload, qos=1, retain=True
        )

    def _publish_interaction(self, board: LayoutABoard) -> None:
        rng = board.rng
        payload: Payload = {
            "screen": rng.choice(self.SCREENS),
            "element": rng.choice(self.ELEMENTS),
            "action": rng.choices(self.ACTIONS, weights=(5, 2, 3))[0],
        }
        self._link.publish(self._topic(board, "display/interaction"), payload)

    def _on_command(self, topic: str, raw: bytes) -> None:
        # The subscription `{base}/+/relay/+/set` guarantees four levels after the base.
        device_id, _, index_text, _ = topic.removeprefix(self._prefix).split("/")
        board = self._boards.get(device_id)
        if board is None:
            LOG.debug("layout A: command for unknown device %s ignored", device_id)
            return
        index = int(index_text) if index_text.isascii() and index_text.isdigit() else -1
        if not 0 <= index < len(board.relays):
            LOG.debug("layout A: command for unknown relay %s ignored", topic)
            return
        command = parse_object(raw)
        state = command.get("state") if command is not None else None
        if command is None or not isinstance(state, bool):
            LOG.debug("layout A: malformed command on %s ignored: %r", topic, raw[:200])
            return
        source = command.get("source")
        board.relays[index] = state
        board.triggered_by[index] = source if isinstance(source, str) and source else "mqtt"
        LOG.info("%s relay %d -> %s (%s)", device_id, index, state, board.triggered_by[index])
        self._publish_relay(board, index)


class LayoutBBoard:
    """A firmware v2 relay board: its own connection, Last Will and command handling."""

    PROTOCOL_VERSION = "2.2.0"
    REBOOT_SECONDS = 1.0

    def __init__(
        self, settings: Settings, runner: Runner, number: int, uuid_text: str, rng: random.Random
    ) -> None:
        """Build the board and its connection; nothing goes on the wire yet."""
        self.uuid = uuid_text
        self.board_id = f"relay_board_{number}"
        self._runner = runner
        self._rng = rng
        self._channels = [False] * settings.channels_b
        self._wifi_signal = rng.uniform(-70.0, -50.0)
        self._free_memory = rng.uniform(170000, 210000)
        self._booted = time.monotonic()
        self.rebooting = False
        base = settings.base
        root = f"{base}/devices/{uuid_text}"
        self._status_topic = f"{root}/status"
        self._state_topic = f"{root}/relays/state"
        self._set_topic = f"{root}/relays/set"
        self._event_topic = f"{base}/telemetry/relays/data"
        self._error_topic = f"{base}/errors/{uuid_text}/command"
        self.link = Link(
            settings,
            runner,
            client_id=f"esp32-relay-{uuid_text[:8]}",
            subscriptions=[self._set_topic, f"{root}/commands/+"],
            on_message=self._on_command,
            on_reconnect=self.announce,
            will=lambda: Will(
                self._status_topic, json.dumps(self._offline("unexpected_disconnect")), retain=True
            ),
        )

    def announce(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish what a freshly connected board publishes: status, then relay state."""
        return [self.publish_status(), self._publish_state()]

    def publish_status(self) -> mqtt.MQTTMessageInfo:
        """Retained online status; signal and heap drift a little each time."""
        self._wifi_signal = walk(self._rng, self._wifi_signal, 1.5, -75.0, -45.0)
        self._free_memory = walk(self._rng, self._free_memory, 1500.0, 150000, 230000)
        payload: Payload = {
            "protocol_version": self.PROTOCOL_VERSION,
            "uuid": self.uuid,
            "timestamp": iso_now(),
            "status": "online",
            "firmware_version": "2.0.0",  # hard-coded in the real firmware
            "ip_address": "0.0.0.0",  # noqa: S104 - hard-coded by the firmware, not a bind
            "wifi_signal": round(self._wifi_signal),
            "free_memory": int(self._free_memory),
            "uptime": int(time.monotonic() - self._booted),
            "board_id": self.board_id,
            "type": "esp32_relay",
            "channels": len(self._channels),
        }
        return self.link.publish(self._status_topic, payload, qos=1, retain=True)

    def _offline(self, reason: str) -> Payload:
        now = iso_now()
        return {
            "protocol_version": self.PROTOCOL_VERSION,
            "uuid": self.uuid,
            "timestamp": now,
            "status": "offline",
            "reason": reason,
            "last_seen": now,
        }

    def _publish_state(self) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "uuid": self.uuid,
            "board_id": self.board_id,
            "timestamp": iso_now(),
            "channels": {str(n + 1): state for n, state in enumerate(self._channels)},
        }
        return self.link.publish(self._state_topic, payload, qos=1, retain=True)

    def _reject(self, error: str) -> None:
        LOG.info("%s: command rejected: %s", self.board_id, error)
        payload: Payload = {"uuid": self.uuid, "error": error, "timestamp": iso_now()}
        self.link.publish(self._error_topic, payload, qos=1)

    def _on_command(self, topic: str, raw: bytes) -> None:
        if self.rebooting:
            LOG.debug("%s: command on %s lost while rebooting", self.board_id, topic)
            return
        command = parse_object(raw)
        if command is None:
            self._reject("invalid JSON payload")
            return
        version = command.get("protocol_version")
        if not isinstance(version, str) or not version.startswith("2."):
            self._reject(f"incompatible protocol_version: {quoted(version)}")
        elif topic == self._set_topic:
            self._relay_command(command)
        else:
            # Like the firmware, the payload's "command" decides; the topic is the fallback.
            self._general_command(command.get("command", topic.rsplit("/", 1)[1]))

    def _relay_command(self, command: Payload) -> None:
        channel = command.get("channel")
        action = command.get("command")
        count = len(self._channels)
        if channel == "all":
            targets = range(count)
        elif isinstance(channel, int) and not isinstance(channel, bool) and 1 <= channel <= count:
            targets = range(channel - 1, channel)
        else:
            self._reject(f"invalid channel: {quoted(channel)}")
            return
        if action not in ("on", "off", "toggle"):
            self._reject(f"unknown relay command: {quoted(action)}")
            return
        source = command.get("source")
        for n in targets:
            new = (action == "on") if action != "toggle" else not self._channels[n]
            if new == self._channels[n]:
                continue
            self._channels[n] = new
            LOG.info("%s channel %d -> %s", self.board_id, n + 1, new)
            event: Payload = {
                "uuid": self.uuid,
                "board_id": self.board_id,
                "timestamp": iso_now(),
                "event": "relay_change",
                "channel": n + 1,
                "state": new,
                "trigger": "mqtt",
                "source": source if isinstance(source, str) else "unknown",
            }
            self.link.publish(self._event_topic, event)
        self._publish_state()

    def _general_command(self, action: object) -> None:
        if action == "status":
            self.publish_status()
        elif action == "reset":
            self._channels = [False] * len(self._channels)
            self._publish_state()
        elif action == "reboot":
            LOG.info("%s: rebooting", self.board_id)
            self.rebooting = True
            self.link.publish(self._status_topic, self._offline("reboot"), qos=1, retain=True)
            self._runner.call_later(self.REBOOT_SECONDS, self._boot)
        else:
            self._reject(f"unsupported command: {quoted(action)}")

    def _boot(self) -> None:
        self.rebooting = False
        self._booted = time.monotonic()
        self._channels = [False] * len(self._channels)
        self.announce()


class LayoutBFamily(Family):
    """Real firmware v2.x boards (`{base}/devices/{uuid}/...`), one connection each."""

    key = "layout_b"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the boards; board n's uuid depends on --seed and n, not on the count."""
        super().__init__(settings, runner)
        self._boards = [
            LayoutBBoard(
                settings,
                runner,
                number,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                random.Random(rng.getrandbits(64)),
            )
            for number in range(1, settings.layout_b + 1)
        ]

    @override
    def ids(self) -> list[str]:
        return [board.uuid for board in self._boards]

    @override
    def links(self) -> list[Link]:
        return [board.link for board in self._boards]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        self.runner.every(self.settings.status_interval, self._status_tick)
        return [info for board in self._boards for info in board.announce()]

    @override
    def stop(self) -> None:
        # A real board just loses power, so the broker publishes its Last Will.
        drop_all(self.links())

    def _status_tick(self) -> None:
        for board in self._boards:
            if not board.rebooting:
                board.publish_status()
