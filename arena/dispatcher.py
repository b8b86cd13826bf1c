"""The front door of `arena serve --production`: one port, two gunicorn services behind it. Requests under
/live (the live battles: their form, messages and streams) go to the stream service, every other request to the
page workers, so an open stream never holds a page worker's thread and litellm never loads in a page worker.

It is deliberately small, a path router rather than a proxy: it reads a request's head, picks the service by
path, and from then on copies bytes both ways. Each connection carries one request (the head is forwarded with
`Connection: close`, so the browser opens a new connection for its next request, which may go elsewhere), and
the service learns the visitor's address from a PROXY protocol v1 line (gunicorn `--proxy-protocol`), so rate
limits, identity caps and live budgets key on the visitor as before; X-Forwarded-* headers pass through untouched
for ARENA_PROXY_HOPS to judge when a TLS proxy stands in front. nginx or HAProxy can take its place (README,
"One-host production")."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

STREAM_PREFIX = "/live"
# A request head larger than this is refused (431), and one that has not arrived in this time is dropped.
HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_SECONDS = 30
CHUNK = 64 * 1024
# Hop-by-hop headers the dispatcher replaces by its own `Connection: close`.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection"})


def service_for(target: str) -> str:
    """'streams' for the live battles' paths, 'web' for everything else."""
    path = target.split("?", 1)[0]
    if "://" in path:  # an absolute-form target: http://host/path
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return "streams" if path == STREAM_PREFIX or path.startswith(STREAM_PREFIX + "/") else "web"


def proxy_line(peer, local) -> bytes:
    """PROXY protocol v1: who connected (the visitor, or the TLS proxy in front) and where."""
    if not isinstance(peer, tuple) or not isinstance(local, tuple):
        return b"PROXY UNKNOWN\r\n"
    family = "TCP6" if ":" in peer[0] else "TCP4"
    return f"PROXY {family} {peer[0]} {local[0]} {peer[1]} {local[1]}\r\n".encode()


def forwarded_head(head: bytes) -> bytes:
    """The request head as the service gets it: hop-by-hop headers replaced by `Connection: close`."""
    request_line, *lines = head[:-4].split(b"\r\n")
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in HOP_BY_HOP]
    return b"\r\n".join([request_line, *kept, b"Connection: close", b"", b""])


def _answer(status: str, reason: str) -> bytes:
    body = (reason + "\n").encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body  # fmt: skip


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()


class Dispatcher:
    """Routes each connection to one of two services listening on Unix sockets."""

    def __init__(self, sockets: dict[str, str]) -> None:
        self.sockets = sockets  # {"web": path, "streams": path}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend_writer: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
            except asyncio.LimitOverrunError:
                writer.write(_answer("431 Request Header Fields Too Large", "The request's headers are too large."))
                return
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            if len(parts) != 3:
                writer.write(_answer("400 Bad Request", "Malformed request line."))
                return
            service = service_for(parts[1].decode("latin-1"))
            try:
                backend_reader, backend_writer = await asyncio.open_unix_connection(self.sockets[service])
            except OSError:
                log.warning("the %s service is not answering", service)
                writer.write(_answer("502 Bad Gateway", f"The {service} service is not answering; try again soon."))
                return
            backend_writer.write(proxy_line(writer.get_extra_info("peername"), writer.get_extra_info("sockname")))
            backend_writer.write(forwarded_head(head))
            # The request's body (if any) goes on as it comes; the answer ends when the service closes.
            upstream = asyncio.ensure_future(_copy(reader, backend_writer))
            try:
                await _copy(backend_reader, writer)
            finally:
                upstream.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await upstream
        except ConnectionError:
            pass  # the visitor left (a closed page ends its stream here, and the service sees it on its next write)
        finally:
            for side in (backend_writer, writer):
                if side is not None:
                    side.close()
                    with contextlib.suppress(ConnectionError, OSError):
                        await side.wait_closed()

    async def serve(self, host: str, port: int, ready: asyncio.Event | None = None) -> None:
        server = await asyncio.start_server(self.handle, host, port, limit=HEAD_LIMIT, backlog=1024)
        async with server:
            if ready is not None:
                ready.set()
            await server.serve_forever()
