"""The connection engine: one asyncio task per client connection, from protocol header to close.

:func:`serve` is what a listener calls with the stream pair of an accepted connection.
It only uses ``reader.read`` and ``writer.write``/``drain``/``close``, so a TLS stream or a
WebSocket adapter can feed it as well as a plain socket.

The loop reads whatever bytes arrived, handles every complete frame in them, then
writes everything that handling produced with one ``write`` and one ``drain``, once the
application's durability barrier is passed. Frames produced outside the loop (an
application task sending on a link, a heartbeat) are written on the next turn of the
event loop, batched the same way, or with the answers of a read still being handled.
Heartbeats and the idle-timeout check run from one timer callback, not a task.

A reader that can push what arrives (``consumer``, see ``controlplane.gateway.streams``)
lets the loop, while it waits for bytes, handle them right in ``data_received``: a read
whose frames and barrier complete without waiting (a settlement, a flow; most sends) is
answered a turn of the event loop sooner. The first frame or barrier that has to wait
hands the rest of that read to a task, and reads go back through the loop until it ends.

A frame that cannot be decoded closes the connection with ``amqp:decode-error``; one
that breaks the protocol with the matching condition; an exception from the engine
itself with ``amqp:internal-error``. Whatever happens, every link's handler hears
``on_detach``, the application ``on_close``, and the socket is closed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from .application import Application
from .errors import (
    DECODE_ERROR,
    FRAMING_ERROR,
    ILLEGAL_STATE,
    INTERNAL_ERROR,
    NOT_ALLOWED,
    RESOURCE_LIMIT_EXCEEDED,
    AmqpError,
    DecodeError,
    FramingError,
)
from .frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    MIN_MAX_FRAME_SIZE,
    SASL_HEADER,
    TYPE_AMQP,
    TYPE_SASL,
    Frame,
    FrameBuffer,
    encode_frame,
)
from .performatives import (
    SASL_AUTH,
    SASL_OK,
    Attach,
    Begin,
    Close,
    Detach,
    Disposition,
    End,
    Flow,
    Open,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    Transfer,
)
from .sasl import SaslCredentials
from .session import Pending, Session
from .types import symbols

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024


@dataclass(frozen=True)
class ConnectionSettings:
    """What we offer in open/begin/attach, and how long we wait."""

    container_id: str = "localzure-servicebus"
    max_frame_size: int = 65536
    channel_max: int = 4095
    idle_timeout: float | None = 120.0
    """Seconds of silence from the client after which we close (sent as idle-time-out)."""
    handle_max: int = 0xFFFFFFFF
    session_window: int = 8192
    """Transfer frames the client may send before we widen the window again (and vice versa)."""
    link_credit: int = 1000
    """Deliveries a client's sender may have in flight; replenished at half."""
    max_message_size: int | None = 1024 * 1024
    """Advertised on links (the SDK sizes its batches by it); larger deliveries are rejected."""
    handshake_timeout: float = 30.0
    close_timeout: float = 2.0
    """Seconds to wait for the client's close after ours before dropping the socket."""


class Connection:
    """One client connection. ``context`` is the application's to keep per-connection state in."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        app: Application,
        settings: ConnectionSettings,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.app = app
        self.settings = settings
        self.sasl: SaslCredentials | None = None
        self.remote_open: Open | None = None
        self.remote_max_frame_size = MIN_MAX_FRAME_SIZE
        self.remote_idle_timeout: float | None = None
        self.channel_max = settings.channel_max
        self.context: dict[str, Any] = {}
        self.sessions: dict[int, Session] = {}
        self.error: AmqpError | None = None
        self._channels: dict[int, Session] = {}
        self._ended_by_peer: set[int] = set()
        """Client channels whose session the client ended (and has not begun again)."""
        self._buffer = FrameBuffer(settings.max_frame_size)
        self._out: list[bytes] = []
        self._dirty_sessions: dict[Session, None] = {}
        self._loop = asyncio.get_running_loop()
        self._in_batch = False
        """True while a read's frames are handled and made durable: nothing is written meanwhile."""
        self._push = hasattr(reader, "consumer")
        self._handing_over: asyncio.Task[None] | None = None
        """Finishing a read that ``_consume`` began and had to wait in."""
        self._flush_scheduled = False
        self._amqp_started = False
        self._open_sent = False
        self._close_sent = False
        self._done = False
        self._shut_down = False
        self._writer_closed = False
        self._last_received = self._last_sent = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._handlers: dict[type, Callable[[int, Any, bytes], Pending]] = {
            Open: self._on_open,
            Begin: self._on_begin,
            Attach: self._on_link_frame,
            Flow: self._on_link_frame,
            Transfer: self._on_transfer,
            Disposition: self._on_link_frame,
            Detach: self._on_link_frame,
            End: self._on_end,
            Close: self._on_close,
        }

    @property
    def remote_container_id(self) -> str | None:
        return self.remote_open.container_id if self.remote_open else None

    @property
    def hostname(self) -> str | None:
        """The host the client asked for (open's hostname, else SASL's)."""
        if self.remote_open and self.remote_open.hostname:
            return self.remote_open.hostname
        return self.sasl.hostname if self.sasl else None

    # ---- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with asyncio.timeout(self.settings.handshake_timeout):
                proceed = await self._handshake()
            while proceed:
                # Frames first: the handshake's last read may already hold the open (pipelined).
                self._in_batch = True
                await self._finish_batch(None)
                await self.writer.drain()
                if self._done:
                    break
                data = await self._read()
                if self._handing_over is not None:
                    await self._handing_over  # what an earlier read handed over comes first
                    self._handing_over = None
                if not data or self._done:
                    break
                self._received(data)
        except Exception as exc:
            self._failed(exc)
        finally:
            self._shutdown()

    def _failed(self, exc: Exception) -> None:
        """End the connection for an exception from handling frames (the client's or ours)."""
        if isinstance(exc, DecodeError):
            self._fail(AmqpError(DECODE_ERROR, str(exc)))
        elif isinstance(exc, FramingError):
            self._fail(AmqpError(FRAMING_ERROR, str(exc)))
        elif isinstance(exc, AmqpError):
            self._fail(exc)
        elif isinstance(exc, ConnectionError | OSError | EOFError | TimeoutError):
            self._done = True
        else:
            log.exception("AMQP connection failed", exc_info=exc)
            self._fail(AmqpError(INTERNAL_ERROR, f"{type(exc).__name__}"))

    async def _read(self) -> bytes:
        """The next bytes for the loop; meanwhile a pushing reader's reads are handled as they arrive."""
        if self._push:
            self.reader.consumer = self._consume  # type: ignore[attr-defined]
        try:
            return await self.reader.read(READ_SIZE)
        finally:
            if self._push:
                self.reader.consumer = None  # type: ignore[attr-defined]

    def _received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        self._buffer.feed(data)

    def _consume(self, data: bytes) -> bool:
        """A read arriving while the loop waits, handled at once (``False``: left to the loop)."""
        if self._handing_over is not None or self._done or self.writer.transport.get_write_buffer_size():
            return False  # the loop's turn: after what it was handed, or to wait for the client to read
        self._received(data)
        self._in_batch = True
        try:
            pending: Awaitable[Any] | None = self._dispatch_frames()
            if pending is None:
                pending = self._barrier()
        except Exception as exc:
            self._in_batch = False
            self._failed(exc)
        else:
            if pending is not None:
                self._handing_over = self._loop.create_task(self._finish_handed_over(pending))
                return True
            self._in_batch = False
            self._flush()
        self._end_if_done()
        return True

    async def _finish_handed_over(self, pending: Awaitable[Any]) -> None:
        try:
            await self._finish_batch(pending)
        except Exception as exc:
            self._failed(exc)
        self._end_if_done()

    def _end_if_done(self) -> None:
        """Outside the loop: a read that ended the connection shuts it down (the loop, waiting to
        read, then wakes to the closed socket and returns)."""
        if self._done:
            self._shutdown()

    async def _finish_batch(self, pending: Awaitable[Any] | None) -> None:
        """Handle the rest of a read (after ``pending``), pass its barrier, then write its answers."""
        try:
            if pending is not None:
                await pending
            while (frame_work := self._dispatch_frames()) is not None:
                await frame_work
            barrier = self._barrier()
            if barrier is not None:
                await barrier
        finally:
            self._in_batch = False
        self._flush()

    def _dispatch_frames(self) -> Pending:
        """Handle the complete frames buffered, up to the first whose handling has to be awaited."""
        buffer, dispatch = self._buffer, self._dispatch
        while not self._done:
            frame = buffer.next_frame()
            if frame is None:
                return None
            pending = dispatch(frame)
            if pending is not None:
                return pending
        return None

    def _barrier(self) -> Awaitable[None] | None:
        """The application's durability barrier, passed within the read's batch (nothing is written meanwhile):
        ``None`` once passed, else what to await."""
        try:
            pending = self.app.durable()
        except Exception:
            self._durability_failed()
        return None if pending is None else self._await_barrier(pending)

    async def _await_barrier(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            self._durability_failed()

    def _durability_failed(self) -> NoReturn:
        # Outcomes already queued must not reach the client: drop the connection unanswered.
        log.exception("making the connection's changes durable failed")
        self._close_writer()
        raise ConnectionAbortedError from None

    def _dispatch(self, frame: Frame) -> Pending:
        if frame.type != TYPE_AMQP:
            raise FramingError(f"frame type {frame.type} after the AMQP header")
        performative, payload = frame.decode()
        if performative is None:
            return None
        handler = self._handlers.get(type(performative))
        if handler is None:
            raise AmqpError(NOT_ALLOWED, f"{type(performative).__name__} is not allowed here")
        if self.remote_open is None and not isinstance(performative, Open):
            raise AmqpError(ILLEGAL_STATE, f"{type(performative).__name__} before open")
        return handler(frame.channel, performative, payload)

    # ---- handshake: protocol headers and SASL ----------------------------------------

    async def _fill(self) -> None:
        data = await self.reader.read(READ_SIZE)
        if not data:
            raise EOFError
        self._buffer.feed(data)

    async def _read_header(self) -> bytes:
        while (header := self._buffer.take(8)) is None:
            await self._fill()
        return header

    async def _read_sasl_frame(self) -> Any:
        while (frame := self._buffer.next_frame()) is None:
            await self._fill()
        if frame.type != TYPE_SASL:
            raise FramingError(f"frame type {frame.type} during SASL")
        return frame.decode()[0]

    async def _handshake(self) -> bool:
        """Protocol headers and SASL; ``False`` when the connection must just be dropped."""
        header = await self._read_header()
        if header == SASL_HEADER:
            if not await self._negotiate_sasl():
                return False
            header = await self._read_header()
        if header != AMQP_HEADER:
            # The spec's answer to a header we do not speak: ours, then close.
            self._write(AMQP_HEADER)
            self._flush()
            return False
        self._write(AMQP_HEADER)
        self._flush()
        self._amqp_started = True
        return True

    async def _negotiate_sasl(self) -> bool:
        offered = list(self.app.sasl_mechanisms)
        self._write(SASL_HEADER)
        self._write(encode_frame(0, SaslMechanisms(sasl_server_mechanisms=symbols(offered)), frame_type=TYPE_SASL))
        self._flush()
        init = await self._read_sasl_frame()
        if not isinstance(init, SaslInit):
            raise AmqpError(NOT_ALLOWED, f"expected sasl-init, got {type(init).__name__}")
        credentials = SaslCredentials.from_init(init)
        accepted = credentials.mechanism in offered and self.app.authenticate(self, credentials)
        self._write(encode_frame(0, SaslOutcome(code=SASL_OK if accepted else SASL_AUTH), frame_type=TYPE_SASL))
        self._flush()
        if accepted:
            self.sasl = credentials
        return accepted

    # ---- connection-level performatives ----------------------------------------------------

    def _on_open(self, channel: int, open_: Open, _: bytes) -> Pending:
        if self.remote_open is not None:
            raise AmqpError(ILLEGAL_STATE, "a second open")
        if channel != 0:
            raise AmqpError(NOT_ALLOWED, "open on a channel other than 0")
        self.remote_open = open_
        self.remote_max_frame_size = max(MIN_MAX_FRAME_SIZE, open_.max_frame_size)
        self.channel_max = min(self.settings.channel_max, open_.channel_max)
        self.remote_idle_timeout = open_.idle_time_out / 1000 if open_.idle_time_out else None
        try:
            result = self.app.on_open(self)
        except AmqpError as error:
            self.close(error)
            return None
        if inspect.isawaitable(result):
            return self._open_later(result)
        self._send_open()
        return None

    async def _open_later(self, result: Any) -> None:
        try:
            await result
        except AmqpError as error:
            self.close(error)
            return
        self._send_open()

    def _send_open(self) -> None:
        idle = self.settings.idle_timeout
        self._write(
            encode_frame(
                0,
                Open(
                    container_id=self.settings.container_id,
                    max_frame_size=self.settings.max_frame_size,
                    channel_max=self.channel_max,
                    idle_time_out=int(idle * 1000) if idle else None,
                ),
            )
        )
        self._open_sent = True
        self._schedule_tick()

    def _on_begin(self, channel: int, begin: Begin, _: bytes) -> Pending:
        if begin.remote_channel is not None:
            raise AmqpError(NOT_ALLOWED, "begin answering a session we never began")
        if channel in self.sessions:
            raise AmqpError(NOT_ALLOWED, f"channel {channel} already has a session")
        self._ended_by_peer.discard(channel)
        if channel > self.channel_max:
            raise AmqpError(NOT_ALLOWED, f"channel {channel} exceeds channel-max {self.channel_max}")
        ours = next(c for c in range(len(self._channels) + 1) if c not in self._channels)
        session = Session(self, ours, channel, begin)
        self.sessions[channel] = session
        self._channels[ours] = session
        session._emit(session._reply())
        return None

    def _session(self, channel: int, performative: Any) -> Session | None:
        """The session on ``channel``; ``None`` once we ended it (its frames in flight are dropped)."""
        session = self.sessions.get(channel)
        if session is None:
            if channel in self._ended_by_peer:
                # The SDK can still detach a link after ending its session (when a receiver with
                # a lost lock closes); the service drops such frames instead of closing the
                # connection under the client's other links.
                return None
            raise AmqpError(ILLEGAL_STATE, f"{type(performative).__name__} on channel {channel}, which has no session")
        return None if session.ended else session

    def _on_transfer(self, channel: int, transfer: Transfer, payload: bytes) -> Pending:
        session = self._session(channel, transfer)
        return None if session is None else session._on_transfer(transfer, payload)

    def _on_link_frame(self, channel: int, performative: Any, _: bytes) -> Pending:
        session = self._session(channel, performative)
        if session is None:
            return None
        if isinstance(performative, Attach):
            return session._on_attach(performative)
        if isinstance(performative, Flow):
            return session._on_flow(performative)
        if isinstance(performative, Disposition):
            return session._on_disposition(performative)
        session._on_detach(performative)
        return None

    def _on_end(self, channel: int, end: End, _: bytes) -> Pending:
        session = self.sessions.get(channel)
        if session is None:
            raise AmqpError(ILLEGAL_STATE, f"end on channel {channel}, which has no session")
        session._on_end(end)
        del self.sessions[channel]
        del self._channels[session.channel]
        self._ended_by_peer.add(channel)
        return None

    def _on_close(self, channel: int, close: Close, _: bytes) -> Pending:
        if not self._close_sent:
            self.error = close.error
            self._flush_sessions()
            self._write(encode_frame(0, Close()))
            self._close_sent = True
        self._done = True
        return None

    def close(self, error: AmqpError | None = None) -> None:
        """Close the connection from our side (with ``error`` for the client to see)."""
        if self._close_sent or self._writer_closed:
            return
        if not self._open_sent:
            self._send_open()  # the spec wants an open before the close, even a refusing one
        self._flush_sessions()
        self._write(encode_frame(0, Close(error=error)))
        self._close_sent = True
        self.error = error
        for session in self.sessions.values():
            session.ended = True
            session._terminate(error)
        self._loop.call_later(self.settings.close_timeout, self._close_writer)

    def _fail(self, error: AmqpError) -> None:
        log.info("closing AMQP connection: %s", error)
        if self._amqp_started:
            self.close(error)
        self._done = True

    def _shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = self._done = True
        if self._handing_over is not None and self._handing_over is not asyncio.current_task():
            self._handing_over.cancel()
        if self._timer is not None:
            self._timer.cancel()
        for session in self.sessions.values():
            session._terminate(self.error)
        self.sessions.clear()
        try:
            self.app.on_close(self, self.error)
        except Exception:
            log.exception("on_close failed")
        self._flush()
        self._close_writer()

    # ---- writing -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._in_batch and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _dirty(self, session: Session) -> None:
        self._dirty_sessions[session] = None
        if not self._in_batch and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush_sessions(self) -> None:
        while self._dirty_sessions:
            session = next(iter(self._dirty_sessions))
            del self._dirty_sessions[session]
            session.flush()

    def _flush(self) -> None:
        if self._in_batch:
            # The read being handled is not durable yet: its outcomes, and whatever was written
            # meanwhile, go out once it is.
            self._flush_scheduled = False
            return
        self._flush_scheduled = True  # what the sessions write now goes out with this write
        try:
            self._flush_sessions()
        finally:
            self._flush_scheduled = False
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        if not self._writer_closed:
            self.writer.write(data)
            self._last_sent = self._loop.time()

    def _close_writer(self) -> None:
        if not self._writer_closed:
            self._writer_closed = True
            self.writer.close()

    # ---- heartbeats and idle timeout ------------------------------------------------------

    def _schedule_tick(self) -> None:
        periods = [t / 4 for t in (self.remote_idle_timeout, self.settings.idle_timeout) if t]
        if periods:
            self._timer = self._loop.call_later(min(periods), self._tick)

    def _tick(self) -> None:
        if self._done:
            return
        now = self._loop.time()
        idle = self.settings.idle_timeout
        if idle and now - self._last_received > idle:
            self.close(AmqpError(RESOURCE_LIMIT_EXCEEDED, f"no frame from the client for {idle:g} seconds"))
            self._done = True
            self._flush()
            return
        if self.remote_idle_timeout and now - self._last_sent >= self.remote_idle_timeout / 2:
            self._out.append(EMPTY_FRAME)
            self._flush()
        self._schedule_tick()


async def serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    app: Application,
    *,
    settings: ConnectionSettings | None = None,
) -> None:
    """Serve one AMQP connection until it closes; never raises for anything the client does."""
    await Connection(reader, writer, app, settings or ConnectionSettings()).run()
