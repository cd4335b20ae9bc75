"""Total deadlines for HTTP calls made with urllib3.

urllib3's ``timeout`` bounds each socket operation, not the call: a seller
that sends one byte every few seconds (in its headers or its body) keeps a
call alive for as long as it likes. :class:`Watchdog` bounds the whole call:
the connections of pools built from :data:`POOLS` report their
socket to the watchdog of the calling thread, which shuts that socket down
when the deadline passes. The blocked read then ends at once (an error, or an
early end of file); the caller asks :attr:`Watchdog.expired` to tell a cut-off
answer from a complete one. One daemon thread (:class:`_Reaper`) keeps every
pending deadline in a heap, so a call costs no thread of its own.

A SOCKS proxy keeps its own connection classes, so calls through one are
bounded by the per-read timeout only.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Watchdog:
    """Shuts down the socket of the calling thread's HTTP call once ``seconds`` pass.

    Example:
        >>> with Watchdog(5.0) as dog:
        ...     response = session.get(url, stream=True)
        ...     body = response.content
        >>> dog.expired  # True: ``body`` may be cut short
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self.done = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._seconds = max(seconds, 0.0)

    def __enter__(self) -> Watchdog:
        _local.watchdog = self
        _REAPER.add(time.monotonic() + self._seconds, self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self.done = True
            self._socket = None
        _local.watchdog = None

    def watch(self, sock: socket.socket | None) -> None:
        """The call now reads ``sock`` (shut at once when the deadline already passed)."""
        if sock is None:
            return
        with self._lock:
            self._socket = sock
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        """The deadline passed: shut the call's socket (nothing once the call is over)."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)


class _Reaper:
    """One daemon thread expiring watchdogs in deadline order."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start afresh (a forked child has none of its parent's threads)."""
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, dog: Watchdog) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), dog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines")
                self._thread.daemon = True
                self._thread.start()
            if self._heap[0][2] is dog:  # the reaper sleeps until the head's deadline:
                self._cond.notify()  # woken only when this one comes first (not per call)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                dog = heapq.heappop(self._heap)[2]
            dog.expire()


_REAPER = _Reaper()
os.register_at_fork(after_in_child=_REAPER.reset)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _report(sock: socket.socket | None) -> None:
    dog: Watchdog | None = getattr(_local, "watchdog", None)
    if dog is not None:
        dog.watch(sock)


class _WatchedConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _report(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _report(self.sock)  # a kept-alive connection: its socket exists already
        super().request(*args, **kwargs)


class _WatchedTlsConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _report(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _report(self.sock)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedTlsConnection


#: urllib3 pool classes by scheme whose connections report their socket to the watchdog.
POOLS = {"http": _Pool, "https": _TlsPool}
