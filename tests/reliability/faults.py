"""A loopback TCP proxy that can lose the server's reply to one transaction.

It reproduces the one failure a restart test rarely hits: the server commits a
MULTI/EXEC, then the connection dies before the client reads the reply. The client
cannot tell "not saved" from "saved, reply lost".
"""

from __future__ import annotations

import asyncio
import contextlib

REPLY_WAIT_SECONDS = 0.3


class ReplyLosingProxy:
    """Forwards 127.0.0.1:<port> to the server; ``lose_next_exec_reply()`` arms one fault."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port = 0
        self.replies_lost = 0
        self._armed = False
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> ReplyLosingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def lose_next_exec_reply(self) -> None:
        self._armed = True

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.server_port)
        lose_reply = asyncio.Event()

        async def upstream() -> None:
            pending = b""
            while data := await client_reader.read(65536):
                pending = (pending + data)[-64:]
                server_writer.write(data)
                await server_writer.drain()
                if self._armed and b"EXEC\r\n" in pending.upper():
                    self._armed = False
                    lose_reply.set()

        async def downstream() -> None:
            while True:
                if lose_reply.is_set():
                    # The server has the EXEC: let it answer, swallow the answer, hang up.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(server_reader.read(65536), REPLY_WAIT_SECONDS)
                    self.replies_lost += 1
                    return
                read = asyncio.ensure_future(server_reader.read(65536))
                armed = asyncio.ensure_future(lose_reply.wait())
                done, _ = await asyncio.wait({read, armed}, return_when=asyncio.FIRST_COMPLETED)
                armed.cancel()
                if read in done:
                    data = read.result()
                    if not data:
                        return
                    if lose_reply.is_set():
                        self.replies_lost += 1
                        return
                    client_writer.write(data)
                    await client_writer.drain()
                else:
                    read.cancel()

        tasks = {asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is closing: fall through and hang up both sides
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client_writer, server_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def aclose(self) -> None:
        """Stop listening and end every forwarded connection, within a bounded time."""
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
