"""The OpenWrt system under a simulated SpotFi router: hardware, ubus and a tiny ash.

Everything here is made up from the router's own state; nothing touches the host.
The bridge on top of it (status, metrics, RPC, terminals) is in ``spotfi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import json
import re
import shlex
import time
from typing import TYPE_CHECKING

from .payloads import Payload, parse_object, walk

if TYPE_CHECKING:
    from collections.abc import Callable
    import random

    from .core import Job

OPENWRT_VERSION = "23.05.3"
OPENWRT_REVISION = "r23809-234f1a2efa"
KERNEL = "5.15.150"
KERNEL_BUILT = "Thu Mar 21 19:44:06 2024"
HOSTNAME = "OpenWrt"
PROMPT = f"root@{HOSTNAME}:~# ".encode()
MAX_CLIENTS = 40
LAN_PREFIX = "192.168.1."
BANNER = "\n".join(
    (
        "  _______                     ________        __",
        " |       |.-----.-----.-----.|  |  |  |.----.|  |_",
        " |   -   ||  _  |  -__|     ||  |  |  ||   _||   _|",
        " |_______||   __|_____|__|__||________||__|  |____|",
        "          |__| W I R E L E S S   F R E E D O M",
        " -----------------------------------------------------",
        f" OpenWrt {OPENWRT_VERSION}, {OPENWRT_REVISION}",
        " -----------------------------------------------------",
        "",
    )
)
LOGIN = (
    ("\n\nBusyBox v1.36.1 (2024-03-22 22:09:42 UTC) built-in shell (ash)\n\n" + BANNER)
    .replace("\n", "\r\n")
    .encode()
)
DIRECTORIES = {  # what `ls` shows; root's home is empty, as on a new router
    "/": "bin dev etc lib mnt overlay proc rom root sbin sys tmp usr var www",
    "/root": "",
    "/etc": "banner config dropbear group hosts init.d openwrt_release openwrt_version passwd"
    " profile rc.local shadow sysctl.conf uspot",
    "/etc/config": "dhcp dropbear firewall network spotfi system uhttpd uspot wireless",
    # The simulated router's /tmp (S108), never touched on this host.
    "/tmp": "dhcp.leases etc hosts lock log resolv.conf.d run spotfi state sysinfo",  # noqa: S108
}
RC_SERVICES: Payload = {
    name: {"start": start, "stop": stop, "enabled": True, "running": running}
    for name, start, stop, running in (
        ("boot", 10, 0, False),
        ("cron", 50, 0, True),
        ("dnsmasq", 19, 10, True),
        ("dropbear", 19, 50, True),
        ("firewall", 19, 0, False),
        ("log", 12, 0, True),
        ("network", 20, 90, True),
        ("odhcpd", 35, 85, True),
        ("spotfi-bridge", 99, 10, True),
        ("sysntpd", 98, 0, True),
        ("uhttpd", 50, 0, True),
        ("uspot", 80, 10, True),
    )
}


@dataclass(frozen=True)
class RouterModel:
    """The hardware a router runs on: what `system board` and `uname` report."""

    model: str
    board_name: str
    system: str
    target: str
    machine: str
    pkg_arch: str
    smp: bool
    memory: int  # bytes, MemTotal as the kernel reports it
    wan_device: str


ROUTER_MODELS = (
    RouterModel(
        "GL.iNet GL-MT3000",
        "glinet,gl-mt3000",
        "ARMv8 Processor rev 4",
        "mediatek/filogic",
        "aarch64",
        "aarch64_cortex-a53",
        smp=True,
        memory=508_551_168,
        wan_device="eth1",
    ),
    RouterModel(
        "TP-Link Archer C7 v5",
        "tplink,archer-c7-v5",
        "Qualcomm Atheros QCA956X ver 1 rev 0",
        "ath79/generic",
        "mips",
        "mips_24kc",
        smp=False,
        memory=124_071_936,
        wan_device="eth1",
    ),
    RouterModel(
        "Xiaomi Mi Router 4A Gigabit Edition",
        "xiaomi,mi-router-4a-gigabit",
        "MediaTek MT7621 ver:1 eco:3",
        "ramips/mt7621",
        "mips",
        "mipsel_24kc",
        smp=True,
        memory=126_316_544,
        wan_device="wan",
    ),
)


# What the tiny ash's printf turns into output: `%s`/`%d` take the next argument.
PRINTF_PART = re.compile(r"%[sd%]|\\[nt\\]")
PRINTF_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\", "%%": "%"}
UBUS_EXIT_CODES = {"Invalid argument": 2, "Method not found": 3, "Not found": 4}


class CommandFailed(Exception):
    """A command of the tiny ash that printed `output` and exited with `status` (not 0)."""

    def __init__(self, output: str, status: int) -> None:
        """Keep what it printed: the shell shows it like any output."""
        super().__init__(output)
        self.output = output
        self.status = status


class ShellExit(Exception):
    """`exit` in the tiny ash: ends the shell, or only the subshell it ran in."""

    def __init__(self, status: int) -> None:
        """Keep the exit status."""
        super().__init__(status)
        self.status = status


def split_words(line: str) -> list[str]:
    """Split an ash line into words and the operators `;`, `(` and `)`; ValueError if open."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";()")
    lexer.whitespace_split = True
    # shlex keeps a run of operators together (`);`): each is a word of its own.
    return [
        part
        for word in lexer
        for part in (list(word) if word and set(word) <= set(";()") else [word])
    ]


def printf(args: list[str]) -> str:
    """Format like ash's printf, for the `%s`, `%d` and backslash escapes it needs here."""
    if not args:
        return ""
    values = iter(args[1:])

    def part(match: re.Match[str]) -> str:
        token = match.group()
        return next(values, "") if token in ("%s", "%d") else PRINTF_ESCAPES[token]

    return PRINTF_PART.sub(part, args[0])


class UbusError(Exception):
    """A failed ubus call: `error` is the bridge's summary, `status` what ubus printed."""

    def __init__(self, error: str, status: str) -> None:
        """Keep both texts; the RPC reply and the shell show different ones."""
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass
class HotspotClient:
    """A guest logged in through the captive portal (uspot)."""

    mac: str
    ip: str
    username: str
    joined: float  # monotonic
    rate_down: float  # bytes per second
    rate_up: float
    idle_phase: float


def interface_up(
    *, uptime: int, device: str, proto: str, address: str, routes: list[Payload], dns: list[str]
) -> Payload:
    """Build the status of an up interface, as `ubus call network.interface.<name> status`."""
    return {
        "up": True,
        "pending": False,
        "available": True,
        "autostart": True,
        "dynamic": False,
        "uptime": uptime,
        "l3_device": device,
        "proto": proto,
        "device": device,
        "updated": ["addresses", "routes", "data"] if routes else ["addresses"],
        "metric": 0,
        "dns_metric": 0,
        "delegation": True,
        "ipv4-address": [{"address": address, "mask": 24}],
        "ipv6-address": [],
        "ipv6-prefix": [],
        "ipv6-prefix-assignment": [],
        "route": routes,
        "dns-server": dns,
        "dns-search": [],
        "neighbors": [],
        "inactive": {
            "ipv4-address": [],
            "ipv6-address": [],
            "route": [],
            "dns-server": [],
            "dns-search": [],
            "neighbors": [],
        },
        "data": {"dhcpserver": dns[0], "leasetime": 86400} if routes else {},
    }


class OpenWrt:
    """The router under the bridge: readings drift per metrics tick; ubus and a tiny ash read them.

    Nothing here touches the host: every command's output is made up from this state.
    """

    def __init__(self, rng: random.Random, on_reboot: Job) -> None:
        """Pick the hardware and a plausible moment in the router's life."""
        self._rng = rng
        self._on_reboot = on_reboot
        self.model = rng.choice(ROUTER_MODELS)
        self._boot = time.monotonic() - rng.uniform(3600.0, 40 * 86400.0)
        self._cpu_load = rng.uniform(2.0, 30.0)  # percent
        self._load = [self._cpu_load / 100] * 3  # 1, 5 and 15 minute averages
        self._free_memory = rng.uniform(0.35, 0.6) * self.model.memory
        self._wan_ip = f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(2, 254)}"
        self._wan_delay = rng.randrange(15, 90)  # seconds from boot until the WAN came up
        self._clients: dict[str, HotspotClient] = {}
        for _ in range(rng.randint(0, 12)):
            self._join(age=rng.uniform(60.0, 4 * 3600.0))
        self._calls: dict[tuple[str, str], Callable[[Payload], Payload]] = {
            ("file", "exec"): self._file_exec,
            ("network.interface", "dump"): lambda _args: {
                "interface": [{"interface": name, **up} for name, up in self._interfaces().items()]
            },
            ("rc", "list"): lambda _args: RC_SERVICES,
            ("system", "board"): lambda _args: self._board(),
            ("system", "info"): lambda _args: self._info(),
            ("system", "reboot"): self._reboot,
            ("uspot", "client_list"): lambda _args: self._client_list(),
        }
        self._status = 0  # the last command's exit status: ash's `$?`
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "cat": self._cat,
            "date": lambda _args: datetime.now(UTC).strftime("%a %b %e %H:%M:%S UTC %Y\n"),
            "echo": lambda args: " ".join(args) + "\n",
            "free": self._free,
            "hostname": lambda _args: f"{HOSTNAME}\n",
            "ls": self._ls,
            "printf": printf,
            "pwd": lambda _args: "/root\n",
            "ubus": self._ubus_cli,
            "uname": self._uname,
            "uptime": self._uptime,
        }

    def uptime(self) -> int:
        """Seconds since boot; 0 while the power is off."""
        return max(0, int(time.monotonic() - self._boot))

    def power_off(self, seconds: float) -> None:
        """Forget what a reboot forgets; uptime counts again once the power is back."""
        self._boot = time.monotonic() + seconds
        self._clients.clear()

    def tick(self) -> None:
        """Let load and memory wander and a guest or two come or go."""
        rng, total = self._rng, self.model.memory
        self._cpu_load = walk(rng, self._cpu_load, 4.0, 0.5, 95.0)
        now = self._cpu_load / 100
        _, five, fifteen = self._load
        self._load = [now, five + (now - five) * 0.2, fifteen + (now - fifteen) * 0.07]
        self._free_memory = walk(rng, self._free_memory, total * 0.01, total * 0.25, total * 0.75)
        if rng.random() < 0.3 and len(self._clients) < MAX_CLIENTS:
            self._join(age=0.0)
        if self._clients and rng.random() < min(0.6, 0.025 * len(self._clients)):
            del self._clients[rng.choice(sorted(self._clients))]

    def metrics(self) -> Payload:
        """Return the heartbeat the bridge sends; activeUsers matches `uspot client_list`."""
        return {
            "uptime": str(self.uptime()),
            "cpuLoad": round(self._cpu_load, 1),
            "totalMemory": self.model.memory,
            "freeMemory": int(self._free_memory),
            "activeUsers": len(self._clients),
        }

    def ubus(self, path: str, method: str, args: Payload) -> Payload:
        """Answer `ubus call <path> <method> <args>`, or raise UbusError as ubus fails."""
        if path.startswith("network.interface."):
            status = self._interfaces().get(path.removeprefix("network.interface."))
            if status is None:
                raise UbusError("Object not found", "Not found")
            if method != "status":
                raise UbusError("Method not found", "Method not found")
            return status
        call = self._calls.get((path, method))
        if call is not None:
            return call(args)
        if any(path == known for known, _ in self._calls):
            raise UbusError("Method not found", "Method not found")
        raise UbusError("Object not found", "Not found")

    def run(self, line: str) -> str | None:
        """Run one command line in the tiny ash; None when the shell exits.

        It knows `;`, `( ... )` subshells, `eval`, `$?` and exit statuses: enough for what
        MQTT Fleet's terminal_exec sends around a command (docs/protocols.md).
        """
        try:
            words = split_words(line)
        except ValueError:
            return "ash: syntax error: unterminated quoted string\n"
        output: list[str] = []
        try:
            self._sequence(words, output)
        except ShellExit:
            return None
        return "".join(output)

    def incomplete(self, line: str) -> bool:
        """Tell whether a line leaves a quote open: ash then asks for more with `> `."""
        try:
            split_words(line)
        except ValueError:
            return True
        return False

    def _sequence(self, words: list[str], output: list[str]) -> None:
        """Run `;`-separated commands and `( ... )` subshells; `$?` follows each."""
        command: list[str] = []
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if word == "(":
                depth, start = 1, index
                while index < len(words) and depth:
                    depth += {"(": 1, ")": -1}.get(words[index], 0)
                    index += 1
                try:
                    self._sequence(words[start : index - 1], output)
                except ShellExit as exit_:
                    self._status = exit_.status
            elif word == ";":
                self._simple(command, output)
                command = []
            elif word != ")":
                command.append(word)
        self._simple(command, output)

    def _simple(self, argv: list[str], output: list[str]) -> None:
        if not argv:
            return
        name = argv[0]
        if name == "eval":  # its words are expanded when they run
            try:
                # A newline ends a command, as `;` does (one inside quotes is rare here).
                self._sequence(split_words(" ".join(argv[1:]).replace("\n", ";")), output)
            except ValueError:
                output.append("ash: eval: syntax error: unterminated quoted string\n")
                self._status = 2
            return
        args = [word.replace("$?", str(self._status)) for word in argv[1:]]
        if name == "exit":
            raise ShellExit(int(args[0]) if args and args[0].isdigit() else self._status)
        status = 0
        if name in ("true", "false"):
            status = int(name == "false")
        elif (command := self._commands.get(name)) is None:
            output.append(f"ash: {name}: not found\n")
            status = 127
        else:
            try:
                output.append(command(args))
            except CommandFailed as failed:
                output.append(failed.output)
                status = failed.status
        self._status = status

    def _join(self, *, age: float) -> None:
        rng = self._rng
        taken = {client.ip for client in self._clients.values()}
        free = [f"{LAN_PREFIX}{host}" for host in range(100, 250)]
        bits = rng.getrandbits(48) & ~(0x01 << 40) | (0x02 << 40)  # a randomised phone MAC
        mac = ":".join(f"{octet:02x}" for octet in bits.to_bytes(6))
        rate = rng.uniform(500.0, 40_000.0)  # bytes per second, averaged over the visit
        self._clients[mac] = HotspotClient(
            mac=mac,
            ip=rng.choice([ip for ip in free if ip not in taken]),
            username=f"guest{rng.randrange(1000, 10000)}",
            joined=time.monotonic() - age,
            rate_down=rate,
            rate_up=rate * rng.uniform(0.05, 0.3),
            idle_phase=rng.uniform(0.0, 45.0),
        )

    def _memory(self) -> dict[str, int]:
        total, free = self.model.memory, int(self._free_memory)
        cached, buffered = int(total * 0.12), int(total * 0.008)
        return {
            "total": total,
            "free": free,
            "shared": int(total * 0.002),
            "buffered": buffered,
            "available": free + cached,
            "cached": cached,
        }

    def _board(self) -> Payload:
        model = self.model
        return {
            "kernel": KERNEL,
            "hostname": HOSTNAME,
            "system": model.system,
            "model": model.model,
            "board_name": model.board_name,
            "rootfs_type": "squashfs",
            "release": {
                "distribution": "OpenWrt",
                "version": OPENWRT_VERSION,
                "revision": OPENWRT_REVISION,
                "target": model.target,
                "description": f"OpenWrt {OPENWRT_VERSION} {OPENWRT_REVISION}",
            },
        }

    def _info(self) -> Payload:
        tmp_total = self.model.memory // 2048  # KiB, half the RAM
        tmp_used = 900 + 4 * len(self._clients)
        return {
            "localtime": int(time.time()),
            "uptime": self.uptime(),
            "load": [round(load * 65536) for load in self._load],
            "memory": self._memory(),
            "root": {"total": 7296, "free": 5184, "used": 2112, "avail": 5184},
            "tmp": {
                "total": tmp_total,
                "free": tmp_total - tmp_used,
                "used": tmp_used,
                "avail": tmp_total - tmp_used,
            },
            "swap": {"total": 0, "free": 0},
        }

    def _interfaces(self) -> dict[str, Payload]:
        up = self.uptime()
        gateway = self._wan_ip.rsplit(".", 1)[0] + ".1"
        route: Payload = {
            "target": "0.0.0.0",  # noqa: S104 - the default route, not a bind address
            "mask": 0,
            "nexthop": gateway,
            "source": f"{self._wan_ip}/32",
        }
        return {
            "lan": interface_up(
                uptime=max(0, up - 8),
                device="br-lan",
                proto="static",
                address=f"{LAN_PREFIX}1",
                routes=[],
                dns=[],
            ),
            "wan": interface_up(
                uptime=max(0, up - self._wan_delay),
                device=self.model.wan_device,
                proto="dhcp",
                address=self._wan_ip,
                routes=[route],
                dns=[gateway],
            ),
            "wwan": {
                "up": False,
                "pending": False,
                "available": False,
                "autostart": True,
                "dynamic": False,
                "proto": "dhcp",
                "device": "phy0-sta0",
                "data": {},
                "errors": [{"subsystem": "interface", "code": "NO_DEVICE"}],
            },
        }

    def _client_list(self) -> Payload:
        now = time.monotonic()
        listing: Payload = {}
        for client in self._clients.values():
            seconds = max(0.0, now - client.joined)
            down, up = int(client.rate_down * seconds), int(client.rate_up * seconds)
            listing[client.mac] = {
                "ip4addr": client.ip,
                "ip6addr": "",
                "username": client.username,
                "state": 1,
                "duration": int(seconds),
                "idle": int(seconds + client.idle_phase) % 45,
                "bytes_dl": down,
                "bytes_ul": up,
                "packets_dl": down // 1200,
                "packets_ul": up // 400,
            }
        return listing

    def _file_exec(self, args: Payload) -> Payload:
        command, params = args.get("command"), args.get("params", [])
        if not isinstance(command, str) or not isinstance(params, list):
            raise UbusError("Invalid argument", "Invalid argument")
        run = self._commands.get(command.rsplit("/", 1)[-1])
        if run is None:
            raise UbusError("Command not found", "Not found")
        try:
            output = run([str(param) for param in params])
        except CommandFailed as failed:
            return {"code": failed.status, "stderr": failed.output}
        return {"code": 0, "stdout": output} if output else {"code": 0}

    def _reboot(self, _args: Payload) -> Payload:
        self._on_reboot()
        return {}

    def _cat(self, args: list[str]) -> str:
        load = " ".join(f"{value:.2f}" for value in self._load)
        files = {
            "/etc/banner": BANNER,
            "/etc/openwrt_version": f"{OPENWRT_REVISION}\n",
            "/etc/openwrt_release": "".join(
                f"DISTRIB_{key}='{value}'\n"
                for key, value in (
                    ("ID", "OpenWrt"),
                    ("RELEASE", OPENWRT_VERSION),
                    ("REVISION", OPENWRT_REVISION),
                    ("TARGET", self.model.target),
                    ("ARCH", self.model.pkg_arch),
                    ("DESCRIPTION", f"OpenWrt {OPENWRT_VERSION} {OPENWRT_REVISION}"),
                    ("TAINTS", ""),
                )
            ),
            "/proc/loadavg": f"{load} 1/97 {4000 + self.uptime() % 20000}\n",
            "/proc/uptime": f"{self.uptime()}.00 {self.uptime() * 0.9:.2f}\n",
        }
        missing = "cat: can't open '{}': No such file or directory\n"
        output = "".join(files.get(name) or missing.format(name) for name in args)
        if any(name not in files for name in args):
            raise CommandFailed(output, 1)
        return output

    def _free(self, _args: list[str]) -> str:
        memory = {key: value // 1024 for key, value in self._memory().items()}
        cache = memory["buffered"] + memory["cached"]
        used = memory["total"] - memory["free"] - cache
        head = ("total", "used", "free", "shared", "buff/cache", "available")
        row = (memory["total"], used, memory["free"], memory["shared"], cache, memory["available"])
        return (
            " " * 7
            + "".join(f"{name:>12}" for name in head)
            + "\nMem:   "
            + "".join(f"{value:>12}" for value in row)
            + "\nSwap:  "
            + "".join(f"{0:>12}" for _ in range(3))
            + "\n"
        )

    def _ls(self, args: list[str]) -> str:
        output: list[str] = []
        failed = False
        for name in [arg for arg in args if not arg.startswith("-")] or ["/root"]:
            path = "/root" if name in ("~", ".") else name.rstrip("/") or "/"
            entries = DIRECTORIES.get(path)
            if entries is None:
                output.append(f"ls: {name}: No such file or directory\n")
                failed = True
            elif entries:
                output.append("  ".join(entries.split()) + "\n")
        if failed:
            raise CommandFailed("".join(output), 1)
        return "".join(output)

    def _ubus_cli(self, args: list[str]) -> str:
        if args == ["list"]:
            names = {path for path, _ in self._calls} | {
                f"network.interface.{name}" for name in self._interfaces()
            }
            return "".join(f"{name}\n" for name in sorted(names))
        if len(args) not in (3, 4) or args[0] != "call":
            return "Usage: ubus [<options>] <command> [arguments...]\n"
        call_args = parse_object(args[3].encode()) if len(args) == 4 else {}
        if call_args is None:
            return "Failed to parse message data\n"
        try:
            result = self.ubus(args[1], args[2], call_args)
        except UbusError as err:
            raise CommandFailed(
                f"Command failed: {err.status}\n", UBUS_EXIT_CODES.get(err.status, 1)
            ) from err
        return json.dumps(result, indent="\t", ensure_ascii=False) + "\n" if result else ""

    def _uname(self, args: list[str]) -> str:
        model = self.model
        fields = {
            "-s": "Linux",
            "-n": HOSTNAME,
            "-r": KERNEL,
            "-v": f"#0 {'SMP ' if model.smp else ''}{KERNEL_BUILT}",
            "-m": model.machine,
        }
        if "-a" in args:
            return " ".join((*fields.values(), "GNU/Linux")) + "\n"
        return " ".join([fields[arg] for arg in args if arg in fields] or ["Linux"]) + "\n"

    def _uptime(self, _args: list[str]) -> str:
        days, rest = divmod(self.uptime(), 86400)
        hours, minutes = divmod(rest // 60, 60)
        since = f"{days} day{'s' if days != 1 else ''}, " if days else ""
        since += f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
        load = ", ".join(f"{value:.2f}" for value in self._load)
        return f" {datetime.now(UTC):%H:%M:%S} up {since},  load average: {load}\n"
