"""Development SMTP catcher: a local aiosmtpd server that keeps every message as an .eml file."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["MailCatcher", "ReceivedMessage", "serve"]

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted SMTP transaction (envelope plus raw message)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    #: 1-based number of the SMTP connection (session) that carried it.
    connection: int
    path: Path | None


class MailCatcher:
    """Run an aiosmtpd server in a thread that stores what it receives.

    Fault injection for tests (all may be changed while the server runs):
    ``refuse`` holds addresses answered with 550 at RCPT TO; ``disconnect_after=N`` answers 421 and
    closes the connection at the next MAIL FROM once a connection has carried N messages (what real
    relays do with "too many messages per connection"); ``drop_before_reply=N`` stores the N-th
    message of a connection and then drops the socket without answering its DATA, so the client
    cannot know whether it was delivered.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1025,
        outdir: str | Path | None = "instance/mail_outbox",
        *,
        refuse: Iterable[str] = (),
        disconnect_after: int | None = None,
        drop_before_reply: int | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.outdir = Path(outdir) if outdir is not None else None
        self.refuse = {address.lower() for address in refuse}
        self.disconnect_after = disconnect_after
        self.drop_before_reply = drop_before_reply
        self.on_message = on_message
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._connections = 0
        self._file_counter = itertools.count(1)
        self._controller: Controller | None = None

    # -- lifecycle

    def start(self) -> MailCatcher:
        """Start listening; return self."""
        if self._controller is not None:
            raise RuntimeError("MailCatcher already started")
        _check_port_free(self.host, self.port)
        if self.outdir is not None:
            self.outdir.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=True, decode_data=False
        )
        try:
            controller.start()
        except BaseException:
            # aiosmtpd leaves its private event loop open when start() fails.
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            if not controller.loop.is_running() and not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what was received

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Return a snapshot of the accepted messages, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def connection_count(self) -> int:
        """Return how many SMTP sessions greeted the server (EHLO/HELO) so far."""
        with self._lock:
            return self._connections

    def clear(self) -> None:
        """Forget received messages and reset the connection count (files stay on disk)."""
        with self._lock:
            self._messages.clear()
            self._connections = 0

    # -- called from the server thread

    def _new_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _store(self, mail_from: str, rcpt_tos: list[str], content: bytes, connection: int) -> ReceivedMessage:
        path = None
        if self.outdir is not None:
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
            first = rcpt_tos[0] if rcpt_tos else "sem-destinatario"
            name = _UNSAFE_FILENAME.sub("_", first)[:80]
            if len(rcpt_tos) > 1:
                name += f"+{len(rcpt_tos) - 1}"
            path = self.outdir / f"{stamp}-{next(self._file_counter):04d}-{name}.eml"
            path.write_bytes(content)
        received = ReceivedMessage(mail_from, tuple(rcpt_tos), content, connection, path)
        with self._lock:
            self._messages.append(received)
        if self.on_message is not None:
            self.on_message(received)
        return received


def _check_port_free(host: str, port: int) -> None:
    """Fail at once on a busy port (aiosmtpd would only report it after its 5 s ready timeout)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Same option asyncio's create_server uses, so a port in TIME_WAIT is not reported as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"Não foi possível escutar em {host}:{port}: {exc.strerror}") from exc


class _Handler:
    """aiosmtpd handler hooks; session state lives in attributes set on the aiosmtpd Session."""

    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    def _connection(self, session: Any) -> int:
        number = getattr(session, "catcher_connection", None)
        if number is None:
            number = self.catcher._new_connection()
            session.catcher_connection = number
            session.catcher_delivered = 0
        return number

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # Sessions are counted at the greeting, so aiosmtpd's own start-up probe (which only reads the
        # banner) is not counted as a connection.
        self._connection(session)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        self._connection(session)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self._connection(session)
        limit = self.catcher.disconnect_after
        if limit is not None and session.catcher_delivered >= limit:
            # Reply first, then drop the socket: the client sees 421 or a closed connection.
            session.loop.call_soon(server.transport.close)
            return "421 4.7.0 Limite de mensagens por conexão atingido; encerrando a conexão"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.catcher.refuse:
            return f"550 5.1.1 <{address}>: destinatário recusado"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        connection = self._connection(session)
        content = envelope.original_content or b""
        self.catcher._store(envelope.mail_from, list(envelope.rcpt_tos), content, connection)
        session.catcher_delivered += 1
        if self.catcher.drop_before_reply == session.catcher_delivered:
            server.transport.close()
            # connection_lost() cancels this session's task, so no reply is ever sent.
            await asyncio.sleep(3600)
        return "250 Message accepted for delivery"


def serve(host: str = "127.0.0.1", port: int = 1025, outdir: str | Path = "instance/mail_outbox") -> None:
    """Run the catcher in the foreground until Ctrl-C, printing each message it receives."""

    def announce(received: ReceivedMessage) -> None:
        recipients = ", ".join(received.rcpt_tos)
        print(f"Recebido de {received.mail_from} para {recipients}: {received.path}", flush=True)

    catcher = MailCatcher(host, port, outdir, on_message=announce)
    catcher.start()
    where = catcher.outdir.resolve() if catcher.outdir is not None else "(não salvos)"
    print(f"Servidor SMTP de desenvolvimento em {host}:{port}; arquivos .eml em {where}", flush=True)
    print("Pressione Ctrl-C para encerrar.", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()
        print("Servidor SMTP de desenvolvimento encerrado.", flush=True)


if __name__ == "__main__":
    serve()
