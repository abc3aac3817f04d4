"""Flask CLI commands: demo data, agencies and admins, the SOA sandbox, the mail catcher, the dev server."""

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from models import Agency, User, db
from models.agency import Role
from services.demo import DEMO_PASSWORD, LOGINS, load_demo_data


def register_commands(app: Flask) -> None:
    """Attach the project's commands to ``flask --app app``."""
    for command in (demo_data, create_agency, create_admin, soa_sandbox, mail_catcher, dev_server, serasa, worker):
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


@click.command("create-agency")
@click.argument("name")
@click.option("--cnpj", default=None)
@with_appcontext
def create_agency(name: str, cnpj: str | None) -> None:
    """Create an agency and print its id."""
    agency = Agency(name=name, cnpj=cnpj)
    db.session.add(agency)
    db.session.commit()
    click.echo(f"Assessoria criada: id={agency.id}")


@click.command("create-admin")
@click.option("--agency-id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.password_option("--password")
@with_appcontext
def create_admin(agency_id: int, name: str, email: str, password: str) -> None:
    """Create an administrator for an agency."""
    if db.session.get(Agency, agency_id) is None:
        raise click.ClickException("Assessoria não encontrada.")
    if len(password) < 8:
        raise click.ClickException("A senha deve ter ao menos 8 caracteres.")
    user = User(agency_id=agency_id, name=name, email=email.strip().lower(), role=Role.ADMIN, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Administrador criado: {user.email}")


@click.command("soa-sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True)
@click.option("--activation-delay", default=10.0, show_default=True, help="Segundos até Pendente virar Ativa.")
def soa_sandbox(host: str, port: int, activation_delay: float) -> None:
    """Run the SOA WebServices sandbox (development and tests only)."""
    from integrations.soa_sandbox import serve

    serve(host=host, port=port, activation_delay=activation_delay)


@click.command("mail-catcher")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True)
@click.option("--outdir", default="instance/mail_outbox", show_default=True)
def mail_catcher(host: str, port: int, outdir: str) -> None:
    """Run a local SMTP server that saves every message as .eml (development only)."""
    from integrations.smtp_catcher import serve

    serve(host, port, outdir)


@click.command("dev-server")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="5000")
@with_appcontext
def dev_server(port: int) -> None:
    """Serve the panel on 127.0.0.1 with the SOA sandbox and the mail catcher alongside (make run)."""
    from werkzeug.serving import run_simple

    from integrations.smtp_catcher import MailCatcher
    from integrations.soa_sandbox import SandboxServer

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


serasa = AppGroup("serasa", help="Integração com o Serasa via SOA WebServices.")


@click.command("worker")
@click.option("--workers", "-w", type=int, default=None, help="Threads deste consumidor (padrão: JOB_WORKERS).")
@click.option("--no-periodic", is_flag=True, help="Não executar o agendamento (outro consumidor o faz).")
@with_appcontext
def worker(workers: int | None, no_periodic: bool) -> None:
    """Run a job-queue consumer (bulk inclusions, status syncs, the schedule); run one or more beside the web."""
    import logging

    from services.jobs import consumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    backend = "Redis" if app.config.get("REDIS_URL") else "SQLite"
    click.echo(f"Consumidor da fila ({backend}) com {workers or app.config['JOB_WORKERS']} thread(s).")
    consumer(app, workers, periodic=not no_periodic).run()


@serasa.command("sync")
@click.option("--limit", default=200, show_default=True, help="Máximo de registros por assessoria nesta execução.")
@with_appcontext
def serasa_sync(limit: int) -> None:
    """Refresh in-flight negativations, retry due exclusions and exclude expired records (for cron)."""
    from models.negativation import live_records
    from services.negativation import records_to_sync, sync_records

    # The law keeps running when an agency switches the integration off: its live records are still synced
    # and removed on time.
    agencies = [a for a in db.session.scalars(db.select(Agency).order_by(Agency.id))
                if a.serasa_enabled or (a.has_soa_credentials and live_records(a.id))]
    for agency in agencies:
        records = records_to_sync(agency, limit)
        summary = sync_records(agency, records, None) if records else {}
        db.session.commit()
        click.echo(f"{agency.name}: {len(records)} registro(s) consultado(s) {summary}")
