"""Fixtures for the connector tests: unique names, and a TCP proxy that simulates an
outage of a shared server without stopping it (other engineers' tests use it too)."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest


@pytest.fixture
def unique() -> str:
    """A name no other test run uses."""
    return f"dntest.{uuid.uuid4().hex[:12]}"


class Proxy:
    """Forwards 127.0.0.1:<port> to a server; :meth:`down` drops every connection and
    refuses new ones until :meth:`up`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepting = True
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.accepting:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)
        # Each socket is the source of exactly one pipe, which closes it.
        src.close()
        with self.lock:
            if src in self.conns:
                self.conns.remove(src)

    def down(self) -> None:
        self.accepting = False
        with self.lock:
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        self.accepting = True

    def close(self) -> None:
        self.closed = True
        self.down()
        self.listener.close()


@pytest.fixture
def proxy_to() -> Iterator[type[Proxy]]:
    made: list[Proxy] = []

    def make(url: str) -> Proxy:
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 0))
        made.append(proxy)
        return proxy

    yield make  # type: ignore[misc]
    for p in made:
        p.close()
