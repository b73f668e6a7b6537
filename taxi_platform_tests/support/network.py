"""Tests reach loopback only: a socket connection anywhere else fails, and fails the test that made it.

The platform's defaults point at the internet (the course's release on GitHub, the TLC's CloudFront
feed), so a test that forgets to point a source at the mirror would quietly depend on the network.
`guard` makes such a connection (or a DNS lookup of a non-local name) raise `InternetInTests` in this
process; since code may swallow the error, each attempt is also kept, and the conftest fails the
test that made one. Subprocesses get a feed with nothing in it from `support/cli.py`'s `user_env`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class InternetInTests(RuntimeError):
    """A test tried to reach a host other than this machine's loopback."""


def _is_local(host: str | bytes | None) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else host
    name = name.split("%", 1)[0]  # an IPv6 scope
    if name in ("", *LOCAL_NAMES):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name that only DNS can answer
    return address.is_loopback or address.is_unspecified


@contextmanager
def guard() -> Iterator[list[str]]:
    """Within the block, connections and lookups beyond loopback raise; yields the list of attempts."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str) -> InternetInTests:
        attempts.append(what)
        return InternetInTests(f"a test tried to reach {what}: tests use loopback only (the mirror, the emulators)")

    def checked(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise refuse(f"{address[0]}:{address[1]}")

    def connect(sock: socket.socket, address: Any) -> None:
        checked(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        checked(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host):
            raise refuse(f"{host}:{port}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
