"""Ports and process groups of the servers the tests start (dev servers, Spark daemons, emulators, Chromium)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now, all different (held open together while chosen)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]


def reset_signals() -> None:
    """A preexec_fn for servers stopped by SIGTERM.

    A shell that starts pytest in the background leaves SIGINT ignored; `dagster dev` copies
    SIGINT's handler onto SIGTERM, so without this it would ignore the teardown's SIGTERM.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def group_members(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group, as "pid command".

    Zombies do not count: an orphan is only reaped by PID 1, which in a container may be pytest.
    """
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(f"{proc.name} {command[:150]}")
    return members


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_group(process: subprocess.Popen, grace_seconds: float = 20) -> list[str]:
    """SIGTERM the whole process group, SIGKILL it after the grace period; returns what survived.

    The process must have been started with `start_new_session=True`: its pid is the group id.
    """
    pgid = process.pid
    for signum, seconds in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10)):
        if process.poll() is not None and not group_members(pgid):
            break
        signal_group(pgid, signum)
        deadline = time.monotonic() + seconds
        while (process.poll() is None or group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(0.1)
    return group_members(pgid)
