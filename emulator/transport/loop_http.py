"""An HTTP/1.1 listener that reads every connection from one thread (an asyncio event loop).

Why not a thread per connection (`ThreadingHTTPServer`): a client uploading from 32 threads
keeps 32 connections busy, and 32 handler threads then pass the GIL to one another around
every socket read and write. Measured on 2 cores with a nearly free client (10,000 uploads of
5 KB to the Cloud Storage emulator): one connection at a time cost the emulator 0.40 ms of CPU
per upload, 8 or 32 connections at once 0.63-0.71 ms, and it served at most ~1,480 uploads/s;
here the same uploads cost 0.35 ms each and ~2,790/s are served.

What the listener does: it frames requests (the head up to its blank line, then
`Content-Length` bytes of body) and hands each complete request, as bytes, to `answer`, which
returns the whole response and whether to close the connection. The requests of one connection
are answered one after the other, in order (several sent at once included). `waits(method,
target)` says when a request is answered: 0, now, on the loop's thread; a number of seconds (an
injected link delay), on the loop's thread once they have passed, with no thread waiting them
(10,000 uploads behind a 40 ms delay cost the emulator 17-19 s of CPU when each waited on a
worker thread, 12-13 s this way, 11 s with no delay); None (it may block: a held call, a closed
gate), on a worker thread. While a request waits its connection reads nothing more; the other
connections go on.

What it refuses itself, closing the connection after the answer: a head without its blank line
within MAX_HEAD_BYTES (431), a `Content-Length` that is not one decimal number (400), a
`Transfer-Encoding` (411: bodies need a length here; Google's client libraries always send
one). Everything else about the request (its line, its headers, its version) is `answer`'s to
judge. `Expect: 100-continue`: the interim answer goes out as soon as the head is in and the body
is not; `answer` must not send another.
"""

import asyncio
import contextlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The head of a request: its line and headers, as http.server bounds them (100 headers of at
# most 65,536 bytes, a request line of as much), with their line ends.
MAX_HEAD_BYTES = 101 * (65536 + 2) + 2
# Worker threads for the requests that may wait (each waits on its own).
WAITING_WORKERS = 128

# (request bytes, peer address, whether it waited the seconds `waits` gave) → (response bytes,
# close the connection after it)
Answer = Callable[[bytes, tuple, bool], tuple[bytes, bool]]
# (method, request target) → 0: answer now; seconds: answer on the loop once they passed; None:
# answer on a worker thread (see the module's docstring)
Waits = Callable[[str, str], float | None]

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class _Head:
    end: int  # where the body starts
    method: str
    target: str
    body_length: int
    expects_continue: bool


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        body = f"{status} {reason}: {message}\n".encode()
        self.response = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


def _read_head(buffer: bytearray) -> _Head | None:
    """The head at the start of `buffer`, None while it is incomplete; _Refused if unframable."""
    found = _HEAD_END.search(buffer)
    if found is None:
        if len(buffer) > MAX_HEAD_BYTES:
            raise _Refused(431, "Request Header Fields Too Large", "the request head is too long")
        return None
    lines = bytes(buffer[: found.start()]).split(b"\n")
    words = lines[0].split()
    lengths = set()
    expects_continue = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue  # a folded or malformed line: `answer` judges it
        name = name.strip().lower()
        if name == b"content-length":
            lengths.add(value.strip())
        elif name == b"transfer-encoding":
            raise _Refused(
                411,
                "Length Required",
                "a request body needs a Content-Length; transfer codings are not served",
            )
        elif name == b"expect":
            expects_continue = value.strip().lower() == b"100-continue"
    if len(lengths) > 1 or any(not length.isdigit() for length in lengths):
        raise _Refused(400, "Bad Request", "the Content-Length is not one decimal number")
    return _Head(
        end=found.end(),
        method=words[0].decode("latin-1") if words else "",
        target=words[1].decode("latin-1") if len(words) > 1 else "",
        body_length=int(lengths.pop()) if lengths else 0,
        expects_continue=expects_continue and lines[0].rstrip().endswith(b"HTTP/1.1"),
    )


class _Connection(asyncio.Protocol):
    def __init__(self, server: "LoopHttpServer") -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._peer: tuple = ()
        self._waiting = False  # a request of this connection is answered on a worker thread
        self._continued = False  # the interim answer went out for the request being read

    # ---- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._peer = transport.get_extra_info("peername") or ()
        self._server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._serve()

    def eof_received(self) -> bool:
        return False  # the client sends no more: close once what is written is sent

    # ---- requests ----------------------------------------------------------------------------

    def sock(self) -> socket.socket | None:
        return None if self._transport is None else self._transport.get_extra_info("socket")

    def _serve(self) -> None:
        """Answers the complete requests in the buffer, in order, until one must wait."""
        while self._transport is not None and not self._waiting:
            try:
                head = _read_head(self._buffer)
            except _Refused as refused:
                self._write(refused.response, close=True)
                return
            if head is None:
                return
            end = head.end + head.body_length
            if len(self._buffer) < end:
                if head.expects_continue and not self._continued:
                    self._continued = True
                    self._transport.write(_CONTINUE)
                return
            request = bytes(self._buffer[:end])
            del self._buffer[:end]
            self._continued = False
            wait = self._server._waits(head.method, head.target)
            if wait == 0:
                self._write(*self._server._answer_safely(request, self._peer, False))
                continue
            self._waiting = True
            self._transport.pause_reading()
            if wait is None:
                answered = self._server._loop.run_in_executor(
                    self._server._workers, self._server._answer_safely, request, self._peer, False
                )
                answered.add_done_callback(self._answered)
            else:
                self._server._loop.call_later(wait, self._answer_waited, request)
            return

    def _answered(self, answered: "asyncio.Future[tuple[bytes, bool]]") -> None:
        self._resume(None if answered.cancelled() else answered.result())

    def _answer_waited(self, request: bytes) -> None:
        if self._transport is not None:  # not closed meanwhile
            self._resume(self._server._answer_safely(request, self._peer, True))

    def _resume(self, answer: tuple[bytes, bool] | None) -> None:
        """Writes the answer of the request that waited, then serves what came after it."""
        self._waiting = False
        if self._transport is None or answer is None:
            return
        self._write(*answer)
        if self._transport is not None:
            self._transport.resume_reading()
            self._serve()

    def _write(self, response: bytes, close: bool) -> None:
        assert self._transport is not None
        self._transport.write(response)
        if close:
            self._transport.close()  # after what is written is sent
            self._transport = None


class LoopHttpServer:
    """Serves `answer` on host:port from one event-loop thread (see the module's docstring)."""

    def __init__(self, host: str, port: int, answer: Answer, waits: Waits, name: str) -> None:
        self._answer = answer
        self._waits = waits
        self._name = name
        self._connections: set[_Connection] = set()
        self._loop = asyncio.new_event_loop()
        self._workers = ThreadPoolExecutor(WAITING_WORKERS, thread_name_prefix=f"{name}-call")
        try:
            self._listener = self._loop.run_until_complete(
                self._loop.create_server(
                    lambda: _Connection(self), host, port, backlog=128, reuse_address=True
                )
            )
        except BaseException:
            self._loop.close()
            self._workers.shutdown(wait=False)
            raise
        self.server_address: tuple[str, int] = self._listener.sockets[0].getsockname()[:2]
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def _answer_safely(self, request: bytes, peer: tuple, waited: bool) -> tuple[bytes, bool]:
        try:
            return self._answer(request, peer, waited)
        except Exception:  # a bug in a handler: answered 500, not a dropped connection
            log.exception("%s: a request failed", self._name)
            return _Refused(500, "Internal Server Error", "the emulator failed").response, True

    def connections(self) -> list[socket.socket]:
        """The sockets of the open connections (read on the loop's thread)."""

        async def sockets() -> list[socket.socket]:
            return [s for c in self._connections if (s := c.sock()) is not None]

        return asyncio.run_coroutine_threadsafe(sockets(), self._loop).result()

    def stop(self) -> None:
        """Stops listening and closes every connection (kept-alive ones too: a client's pool
        must not be served by a stopped instance); requests still waiting get no answer."""
        if self._loop.is_closed():
            return

        def close() -> None:
            self._listener.close()
            for connection in list(self._connections):
                if connection._transport is not None:
                    connection._transport.abort()  # its socket closes on the next pass
            self._loop.call_soon(self._loop.stop)  # after that pass

        with contextlib.suppress(RuntimeError):  # the loop stopped already
            self._loop.call_soon_threadsafe(close)
        self._thread.join(5)
        self._workers.shutdown(wait=False, cancel_futures=True)
        if not self._thread.is_alive():
            self._loop.close()
