"""Development-only Flask CLI commands: demo data, the SOA sandbox, the mail catcher and the dev server (make run).

Attached by ``services.cli.register_commands`` when ``APP_ENV=development``.
"""

import os

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from devtools.demo import DEMO_PASSWORD, LOGINS, load_demo_data
from models import Agency, db


def register_dev_commands(app: Flask) -> None:
    """Attach the development commands to ``flask --app app``."""
    for command in (demo_data, soa_sandbox, mail_catcher, dev_server):
        app.cli.add_command(command)


def _print_logins() -> None:
    click.echo(f"Acessos de demonstração (senha para todos: {DEMO_PASSWORD}):")
    for agency, email, role in LOGINS:
        click.echo(f"  {email:<28} {role:<14} {agency}")


@click.command("demo-data")
@click.option("--if-empty", is_flag=True, help="Só carrega se o banco não tiver nenhuma assessoria.")
@click.option("--debtors", default=50, show_default=True, help="Devedores da Assessoria Demo.")
@with_appcontext
def demo_data(if_empty: bool, debtors: int) -> None:
    """Load the demo agencies (idempotent)."""
    if if_empty and db.session.query(Agency.id).first():
        click.echo("Banco já possui dados; dados de demonstração não foram recarregados.")
        return
    created = load_demo_data(size=debtors)
    click.echo("Dados de demonstração criados." if created else "Dados de demonstração já existiam.")
    _print_logins()


@click.command("soa-sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True)
@click.option("--activation-delay", default=10.0, show_default=True, help="Segundos até Pendente virar Ativa.")
def soa_sandbox(host: str, port: int, activation_delay: float) -> None:
    """Run the SOA WebServices sandbox (development and tests only)."""
    from devtools.soa_sandbox import serve

    serve(host=host, port=port, activation_delay=activation_delay)


@click.command("mail-catcher")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True)
@click.option("--outdir", default="instance/mail_outbox", show_default=True)
def mail_catcher(host: str, port: int, outdir: str) -> None:
    """Run a local SMTP server that saves every message as .eml (development only)."""
    from devtools.smtp_catcher import serve

    serve(host, port, outdir)


@click.command("dev-server")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="5000")
@with_appcontext
def dev_server(port: int) -> None:
    """Serve the panel on 127.0.0.1 with the SOA sandbox and the mail catcher alongside (make run)."""
    from werkzeug.serving import run_simple

    from devtools.smtp_catcher import MailCatcher
    from devtools.soa_sandbox import SandboxServer

    app = current_app._get_current_object()
    sandbox_port = int(app.config["SOA_URL_SANDBOX"].rsplit(":", 1)[-1].split("/")[0])
    sandbox = SandboxServer(port=sandbox_port, activation_delay=10.0).start()
    outdir = app.config["MAIL_CATCHER_DIR"]
    catcher = MailCatcher(host="127.0.0.1", port=app.config["MAIL_PORT"], outdir=outdir)
    catcher.start()
    click.echo(f"SOA sandbox em {sandbox.url} · servidor de e-mail local em 127.0.0.1:{app.config['MAIL_PORT']} "
               f"(mensagens salvas como .eml em {os.path.abspath(outdir)})")
    _print_logins()
    from services.jobs import start_in_process

    consumer = start_in_process(app)  # the job queue's consumer, in this process (production: flask worker)
    click.echo(f"Fila de tarefas: consumidor interno com {consumer.workers} thread(s).")
    click.echo(f"Painel em http://127.0.0.1:{port}/")
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    finally:
        consumer.stop(graceful=True)
        catcher.stop()
        sandbox.stop()
