"""A real Janus WebRTC gateway on loopback, talking MQTT to a private broker.

For the real-gateway tests (tests/broker/test_janus_gateway.py): Debian's `janus` package
(`apt-get install janus`, which scripts/setup does) run with a configuration of its own in a
work directory, never the system's /etc/janus or a system service. Only the MQTT transport
and the EchoTest plugin are loaded, so it starts in a fraction of a second. The transport is
configured as README.md's "Janus WebRTC gateways" section recommends: the plain API, the admin
API and the status messages under `<base>/<server>/`, the status retained, the disconnect
message as the Last Will.

Callers decide how a failure is reported; here a start that did not work returns False.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import signal
import subprocess
import time

from tools.mosquitto import HOST, stop_process, tail

# Where distributions put Janus's loadable modules (<dir>/transports, <dir>/plugins).
MODULE_DIRS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")
MQTT_TRANSPORT = "libjanus_mqtt.so"
ECHOTEST_PLUGIN = "libjanus_echotest.so"
ONLINE = {"online": True}
OFFLINE = {"online": False}


def find_janus() -> str | None:
    """Return the janus executable, None if it is not installed."""
    return shutil.which("janus")


def find_modules() -> Path | None:
    """Return the folder of Janus's modules with the MQTT transport and EchoTest, or None."""
    for pattern in MODULE_DIRS:
        for folder in sorted(Path("/").glob(pattern.lstrip("/"))):
            if (folder / "transports" / MQTT_TRANSPORT).exists() and (
                folder / "plugins" / ECHOTEST_PLUGIN
            ).exists():
                return folder
    return None


type JcfgValue = str | int | bool


def write_jcfg(path: Path, **sections: dict[str, JcfgValue]) -> None:
    """Write a .jcfg file (libconfig syntax); JSON's literals and string escapes are valid."""
    lines: list[str] = []
    for name, settings in sections.items():
        lines.append(f"{name}: {{")
        lines += [f"\t{key} = {json.dumps(value)}" for key, value in settings.items()]
        lines.append("}")
    path.write_text("\n".join(lines) + "\n")


class Janus:
    """One Janus process serving `<base>/<server>/` on the broker at 127.0.0.1:`broker_port`.

    Its configuration, modules (symbolic links to the two it needs) and log live in
    `workdir`. `admin_secret` may change between runs: the next launch() writes it.
    """

    def __init__(
        self,
        executable: str,
        modules: Path,
        workdir: Path,
        *,
        broker_port: int,
        base: str,
        server: str,
        admin_secret: str,
    ) -> None:
        """Nothing runs before start()."""
        self.executable = executable
        self.modules = modules
        self.workdir = workdir
        self.conf_dir = workdir / "conf"
        self.log = workdir / "janus.log"
        self.broker_port = broker_port
        self.base = base
        self.server = server
        self.admin_secret = admin_secret
        # README: every gateway its own MQTT client id, its server name; kept across restarts.
        self.client_id = server
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def topic(self, leaf: str) -> str:
        """Return one of the gateway's topics: status, to-janus, to-janus-admin, ..."""
        return f"{self.base}/{self.server}/{leaf}"

    def write_config(self) -> None:
        """Write janus.jcfg, the MQTT transport's and EchoTest's configuration, link modules."""
        kinds = ("plugins", "transports", "events", "loggers")  # the last two stay empty
        folders = {kind: self.workdir / kind for kind in kinds}
        for folder in (self.conf_dir, *folders.values()):
            folder.mkdir(parents=True, exist_ok=True)
        for kind, name in (("transports", MQTT_TRANSPORT), ("plugins", ECHOTEST_PLUGIN)):
            link = folders[kind] / name
            if not link.is_symlink():
                link.symlink_to(self.modules / kind / name)
        general: dict[str, JcfgValue] = {"configs_folder": str(self.conf_dir)}
        general |= {f"{kind}_folder": str(folder) for kind, folder in folders.items()}
        general |= {
            "server_name": self.server,
            "admin_secret": self.admin_secret,
            "session_timeout": 0,  # sessions the tests create live as long as the process
            "debug_level": 4,  # ready() reads the subscriptions from the log
        }
        # ICE on loopback only: the gateway never leaves 127.0.0.1.
        write_jcfg(self.conf_dir / "janus.jcfg", general=general, nat={"ice_enforce_list": "lo"})
        write_jcfg(
            self.conf_dir / "janus.transport.mqtt.jcfg",
            general={
                "enabled": True,
                "json": "compact",
                "url": f"tcp://{HOST}:{self.broker_port}",
                "client_id": self.client_id,
                "subscribe_topic": self.topic("to-janus"),
                "publish_topic": self.topic("from-janus"),
            },
            admin={
                "admin_enabled": True,
                "subscribe_topic": self.topic("to-janus-admin"),
                "publish_topic": self.topic("from-janus-admin"),
            },
            status={
                "enabled": True,
                "topic": self.topic("status"),
                "connect_message": json.dumps(ONLINE),
                "disconnect_message": json.dumps(OFFLINE),  # also the Last Will
                "retain": True,  # README: HA knows the server at once after its own restart
            },
        )
        # EchoTest has no settings; the file spares an error line at every start.
        write_jcfg(self.conf_dir / "janus.plugin.echotest.jcfg", general={})

    def launch(self) -> None:
        """Write the configuration and start Janus (also to start it again after a stop)."""
        self.write_config()
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            self.proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
                [self.executable, "--configs-folder", str(self.conf_dir), "--disable-colors"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is the test runner's
            )

    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """Tell whether this run of Janus has subscribed to its admin topic on the broker.

        Its log says so once the broker acknowledged the subscription; the status message
        was published before, on connect.
        """
        if not self.log.exists():
            return False
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode(errors="replace")
        return f"subscribed to MQTT topic: {self.topic('to-janus-admin')}" in text

    def wait_ready(self, timeout: float) -> bool:
        """Block until ready(); False if Janus died or took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            if self.ready():
                return True
            time.sleep(0.02)
        return False

    def start(self, timeout: float) -> bool:
        """Launch and wait until ready; on failure stop it again and return False."""
        self.launch()
        if self.wait_ready(timeout):
            return True
        self.kill()
        return False

    def stop(self) -> None:
        """Stop Janus with SIGTERM: it publishes its disconnect message (this blocks)."""
        if self.proc is not None:
            stop_process(self.proc)

    def kill(self) -> None:
        """Kill Janus with SIGKILL, like a crash: the broker publishes its Last Will."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)

    def logtail(self) -> str:
        """Return the end of the log, for failure messages."""
        return tail(self.log)
