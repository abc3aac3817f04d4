"""Run the SOA sandbox or an SMTP server (aiosmtpd) in its own process for the benchmarks, on 127.0.0.1.

    python -m bench.servers sandbox            # prints "PORT <n>", serves until stdin closes or SIGTERM
    python -m bench.servers smtp --log FILE    # one line "<connection number>" per message received
    python -m bench.servers smtp-tls --log FILE  # the same behind STARTTLS + AUTH (user/password "bench"), as
                                                 # a production relay on port 587 requires

A separate process keeps the servers off the benchmark's GIL, as a remote SOA or SMTP relay would be.
Both stop by themselves after ``--max-seconds`` (default one hour), whatever happens to the runner.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import warnings


def _wait(max_seconds: float) -> None:
    """Block until stdin closes (the runner ended) or the time limit passes."""
    done = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(max_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sandbox", "smtp", "smtp-tls"])
    parser.add_argument("--log", help="smtp: file that receives one line per message")
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # e.g. aiosmtpd's own "Session.login_data is deprecated" on every AUTH

    if args.kind == "sandbox":
        from devtools.soa_sandbox import SandboxServer

        # The sandbox listens with a production-like backlog (128, not socketserver's 5): the first burst of 16+
        # simultaneous inclusions opens as many TCP connections (kept alive afterwards), and a short backlog makes
        # the kernel drop handshakes and the client stall a whole second (SYN retransmission), which a real SOA
        # endpoint would not do.
        server = SandboxServer("127.0.0.1", 0, activation_delay=0).start()
        port = server.url.rsplit(":", 1)[1]
    elif args.kind == "smtp-tls":
        server, port = _tls_relay(args.log)
    else:
        import socket

        from devtools.smtp_catcher import MailCatcher

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115 - lives as long as the server

        def record(received) -> None:
            if log is not None:
                log.write(f"{received.connection}\n")

        server = MailCatcher("127.0.0.1", int(port), outdir=None, on_message=record).start()
    print(f"PORT {port}", flush=True)
    started = time.monotonic()
    try:
        _wait(args.max_seconds - (time.monotonic() - started))
    finally:
        server.stop()


def _tls_relay(log_path: str | None):
    """Start an aiosmtpd server that demands STARTTLS and AUTH (a self-signed certificate made here)."""
    import datetime
    import itertools
    import socket
    import ssl
    import tempfile
    from pathlib import Path

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    folder = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 - lives as long as the server
    numbers = itertools.count(1)

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            if not getattr(session, "bench_connection", None):
                session.bench_connection = next(numbers)
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            if log is not None:
                log.write(f"{session.bench_connection}\n")
            return "250 Message accepted for delivery"

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bench" and auth_data.password == b"bench"
        return AuthResult(success=ok)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="bench.local",
                            tls_context=context, require_starttls=True, auth_required=True,
                            authenticator=authenticate)
    controller.start()

    class Stopper:
        def stop(self):
            controller.stop()

    return Stopper(), port


if __name__ == "__main__":
    main()
