"""A port already taken, said plainly: which port, what holds it (when this machine can
tell), and how to pick another."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


class PortTaken(Exception):
    pass


def check_free(host: str, port: int, *, flag: str) -> None:
    """Raise PortTaken if `host:port` can't be listened on; `flag` is how to pick another."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise PortTaken(f"Can't listen on {host}:{port}: {exc.strerror}.") from None
            holder = holder_of(port)
            held = f" by {holder}" if holder else ""
            raise PortTaken(
                f"Port {port} is already in use{held}. Is Amends already running? Stop it, "
                f"or choose another port: {flag} {port + 1}") from None


def holder_of(port: int) -> str | None:
    """'process 1234 (python -m bot.cli serve)', from Linux's /proc; None elsewhere or when
    the process belongs to someone this user can't see."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                return f"process {pid} ({command.decode(errors='replace').strip()[:80]})"
        except OSError:
            continue
    return None
