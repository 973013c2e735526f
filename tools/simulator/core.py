"""What every simulated device family shares: settings, the scheduler and broker links.

One ``Runner`` thread runs every timer and every inbound message, so device state needs
no locks; paho's network threads only hand messages over. A ``Link`` is one broker
connection with its Last Will, reconnects and simulated power cuts. A ``Family`` owns
one kind of device; the command line (``__main__``) starts and stops the families.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
import heapq
import itertools
import json
import logging
import queue
import random
import socket
import threading
import time
from typing import TYPE_CHECKING, ClassVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

if TYPE_CHECKING:
    import signal

    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from .payloads import Payload

LOG = logging.getLogger("simulator")

Job = Callable[[], object]

STARTUP_TIMEOUT = 10.0  # seconds for connecting, subscribing and initial publishes
SHUTDOWN_TIMEOUT = 5.0  # seconds for the goodbye messages to leave


class StartupError(Exception):
    """The simulator could not get every device onto the broker."""


@dataclass(frozen=True)
class Settings:
    """Command-line options the device families need."""

    host: str
    port: int
    base: str
    layout_a: int
    layout_b: int
    relays_a: int
    channels_b: int
    status_interval: float
    telemetry_interval: float
    interaction_interval: float
    janus: int
    janus_base: str
    janus_secret: str
    janus_wrong_path: int
    janus_reply_delay: float
    spotfi_reply_delay: float
    reply_jitter: float
    janus_down_seconds: float
    spotfi: int
    spotfi_base: str
    spotfi_garbage: bool
    spotfi_down_seconds: float
    metrics_interval: float
    logs: bool
    logs_base: str
    log_rate: float
    log_batching: bool
    log_batch_interval: float
    log_batch_max: int
    log_burst: int


@dataclass(frozen=True)
class Will:
    """A Last Will: what the broker publishes for a device that vanished without a goodbye."""

    topic: str
    body: str
    retain: bool


def wait_published(infos: Sequence[mqtt.MQTTMessageInfo], deadline: float) -> bool:
    """Block until every message was written (QoS 0) or acknowledged (QoS 1)."""
    for info in infos:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                return False
        except RuntimeError, ValueError:
            return False
    return True


class Runner:
    """Runs timers and inbound messages on one thread, so device state needs no locks."""

    def __init__(self) -> None:
        """Start the uptime clock; families schedule their timers in start()."""
        self.started = time.monotonic()
        self.stopping = False
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Job]] = []
        self._order = itertools.count()

    def post(self, job: Job) -> None:
        """Hand a job over from another thread (paho's network threads)."""
        self._inbox.put(job)

    def stop(self) -> None:
        """End the loop. Safe in a signal handler: SimpleQueue.put is reentrant."""
        self.stopping = True
        self._inbox.put(None)

    def call_at(self, when: float, job: Job) -> None:
        """Run job at a monotonic time; runner thread only."""
        heapq.heappush(self._timers, (when, next(self._order), job))

    def call_later(self, delay: float, job: Job) -> None:
        """Run job after delay seconds; runner thread only."""
        self.call_at(time.monotonic() + delay, job)

    def every(
        self,
        interval: float,
        job: Job,
        *,
        first: float | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        """Repeat job, each due time counted from the previous one so it does not drift.

        After a stall the next run is due now rather than replaying every missed one.
        """

        def tick(due: float) -> None:
            job()
            following = max(due + interval * (jitter() if jitter else 1.0), time.monotonic())
            self.call_at(following, partial(tick, following))

        due = time.monotonic() + (interval if first is None else first)
        self.call_at(due, partial(tick, due))

    def run(self) -> None:
        """Serve timers and posted jobs until stop() is called."""
        while not self.stopping:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and not self.stopping:
                heapq.heappop(self._timers)[2]()
            timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
            try:
                job = self._inbox.get(timeout=timeout)
            except queue.Empty:
                continue
            if job is not None:
                job()


class Link:
    """One broker connection; inbound messages are handed to the runner thread.

    paho reconnects by itself; after a reconnect on_reconnect runs on the runner
    thread so the devices can announce themselves again. cut() simulates a power
    cut; while it lasts, `down` (runner thread only) keeps the device silent.
    """

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        client_id: str,
        subscriptions: Sequence[str],
        on_message: Callable[[str, bytes], None],
        on_reconnect: Job,
        will: Callable[[], Will] | None = None,
    ) -> None:
        """Set up the client; nothing touches the network before open()."""
        self.client_id = client_id
        self._settings = settings
        self._runner = runner
        self._subscriptions = subscriptions
        self._handle = on_message
        self._on_reconnect = on_reconnect
        self._will = will
        self._connected_before = False  # paho thread only
        self._subscribed = threading.Event()
        self.down = False  # runner thread only
        self._worker: threading.Thread | None = None  # runner thread only
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_socket_open = self._on_socket_open
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def open(self, deadline: float) -> None:
        """Connect and start paho's thread, retrying while the broker is still starting."""
        while True:
            try:
                self.client.connect(self._settings.host, self._settings.port)
                break
            except OSError as err:
                if time.monotonic() >= deadline or self._runner.stopping:
                    where = f"{self._settings.host}:{self._settings.port}"
                    raise StartupError(
                        f"{self.client_id}: cannot connect to {where}: {err}"
                    ) from err
                time.sleep(0.2)
        self.client.loop_start()

    def wait_subscribed(self, deadline: float) -> None:
        """Block until the broker acknowledged the subscriptions, so commands are not missed.

        A link without subscriptions only waits for the CONNACK.
        """
        if not self._subscribed.wait(max(0.0, deadline - time.monotonic())):
            raise StartupError(f"{self.client_id}: no CONNACK/SUBACK from the broker in time")

    def publish(
        self, topic: str, payload: Payload, *, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish a JSON payload; thread-safe in paho."""
        return self.publish_text(topic, json.dumps(payload), qos=qos, retain=retain)

    def publish_text(
        self, topic: str, body: str, *, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish a payload exactly as given (plain strings, Go- or jansson-style JSON)."""
        LOG.debug("%s -> %s %s", self.client_id, topic, body)
        return self.client.publish(topic, body, qos=qos, retain=retain)

    def send(self, topic: str, body: str, *, qos: int = 0, retain: bool = False) -> None:
        """Publish unless the connection is cut: a device without power says nothing."""
        if self.down:
            LOG.debug("%s is down; %s not sent", self.client_id, topic)
            return
        self.publish_text(topic, body, qos=qos, retain=retain)

    def close(self) -> None:
        """Disconnect cleanly (the broker discards the Last Will)."""
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Close the socket without DISCONNECT, like a power loss, so the Last Will fires."""
        if self._worker is not None:
            self._worker.join()  # a cut or reconnect in progress finishes first
        self._kill()

    def cut(self, seconds: float) -> None:
        """Lose power now and come back after `seconds`; runner thread only.

        paho's blocking calls run on a worker thread so the other devices keep answering.
        """
        LOG.info("%s: connection cut for %g s", self.client_id, seconds)
        self.down = True
        self._in_background(
            self._kill, then=partial(self._runner.call_later, seconds, self._restore)
        )

    def _restore(self) -> None:
        self._in_background(self._reopen, then=None)

    def _in_background(self, work: Job, *, then: Job | None) -> None:
        def run() -> None:
            work()
            if then is not None:
                self._runner.post(then)

        if self._worker is not None:
            self._worker.join()
        self._worker = threading.Thread(target=run, name=f"{self.client_id}-outage")
        self._worker.start()

    def _kill(self) -> None:
        self.client.loop_stop()  # waits for paho's select() timeout, up to 1 s
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def _reopen(self) -> None:
        try:
            self.client.reconnect()
        except OSError as err:
            # paho's loop keeps retrying; on_connect announces the device once it is back.
            LOG.warning("%s: reconnect failed (%s), retrying", self.client_id, err)
        self.client.loop_start()

    def _back(self) -> None:
        self.down = False
        self._on_reconnect()

    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        # Without this, Nagle's algorithm holds back a small reply until the broker's
        # delayed ACK for the previous one: about 40 ms per answer instead of under 1.
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        # Built afresh on every (re)connect, like the firmware builds its LWT at connect.
        if self._will is not None:
            will = self._will()
            client.will_set(will.topic, will.body, qos=1, retain=will.retain)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            LOG.error("%s: broker refused the connection: %s", self.client_id, reason_code)
            return
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        else:  # publish-only (a container manager): ready as soon as it is connected
            self._subscribed.set()
        if self._connected_before:
            LOG.info("%s: reconnected", self.client_id)
            self._runner.post(self._back)
        self._connected_before = True

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            LOG.error("%s: subscription refused: %s", self.client_id, ", ".join(refused))
        else:
            self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            LOG.warning("%s: connection lost (%s), reconnecting", self.client_id, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._runner.post(partial(self._handle, message.topic, message.payload))


class ReplyPacer:
    """Send a device's replies to requests after its delay plus a random jitter, or at once."""

    def __init__(self, runner: Runner, link: Link, delay: float, jitter: float, name: str) -> None:
        """Draw jitter from a stream named for the device: its readings stay as they were."""
        self._runner = runner
        self._link = link
        self._delay = delay
        self._jitter = jitter
        self._rng = random.Random(f"{name}/replies")

    def send(self, topic: str, body: str) -> None:
        """Publish one reply at QoS 1, now or later."""
        delay = self._delay + (self._rng.uniform(0.0, self._jitter) if self._jitter else 0.0)
        if delay > 0:
            self._runner.call_later(delay, partial(self._link.send, topic, body, qos=1))
        else:
            self._link.send(topic, body, qos=1)


class Family(ABC):
    """A kind of simulated device: owns its devices, connections and timers."""

    key: ClassVar[str]  # its name in the READY line

    def __init__(self, settings: Settings, runner: Runner) -> None:
        """Keep what every family needs; devices are built by the subclass."""
        self.settings = settings
        self.runner = runner

    @abstractmethod
    def ids(self) -> list[str]:
        """Return the device ids, in READY-line order."""

    @abstractmethod
    def links(self) -> list[Link]:
        """Return the connections to open before start()."""

    @abstractmethod
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish the initial state and schedule timers; returns the messages to await."""

    @abstractmethod
    def stop(self) -> None:
        """Say goodbye the way this kind of device does, then let go of the broker."""

    def signals(self) -> dict[signal.Signals, Job]:
        """Map the signals this family reacts to onto jobs for the runner thread."""
        return {}


def drop_all(links: Sequence[Link]) -> None:
    """Cut every connection like a power failure, so the broker publishes each Last Will.

    In parallel, because loop_stop() waits for paho's select() timeout (up to 1 s) per link.
    """
    threads = [threading.Thread(target=link.drop) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
