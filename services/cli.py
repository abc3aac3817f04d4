"""Flask CLI commands of production (agencies and admins, ``serasa sync``); ``db`` comes from Flask-Migrate.

The development commands (demo data, the SOA sandbox, the mail catcher, the dev server) live in ``devtools/cli.py``
and are attached only when ``APP_ENV=development``: a production panel never imports ``devtools``.
"""

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from models import Agency, User, db
from models.agency import Role


def register_commands(app: Flask) -> None:
    """Attach the project's commands to ``flask --app app`` (the development ones only in development)."""
    for command in (create_agency, create_admin, serasa, worker):
        app.cli.add_command(command)
    if app.config["APP_ENV"] == "development":
        from devtools.cli import register_dev_commands

        register_dev_commands(app)


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


serasa = AppGroup("serasa", help="Integração com o Serasa via SOA WebServices.")


@click.command("worker")
@click.option("--workers", "-w", type=int, default=None, help="Threads deste consumidor (padrão: JOB_WORKERS).")
@click.option("--no-periodic", is_flag=True, help="Não executar o agendamento (outro consumidor o faz).")
@with_appcontext
def worker(workers: int | None, no_periodic: bool) -> None:
    """Run a job-queue consumer (bulk inclusions, status syncs, the schedule); run one or more beside the web."""
    import faulthandler
    import logging
    import signal

    from services.jobs import consumer

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack (a stuck job)
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
    from models.job import Job
    from models.negativation import live_records
    from services import jobs, serasa_jobs

    # The law keeps running when an agency switches the integration off: its live records are still synced
    # and removed on time.
    agencies = [a for a in db.session.scalars(db.select(Agency).order_by(Agency.id))
                if a.serasa_enabled or (a.has_soa_credentials and live_records(a.id))]
    app = current_app._get_current_object()
    for agency in agencies:
        # The same job as the scheduled sync, run here: it takes the agency's sync lock (serasa_jobs.run_sync),
        # so a sync already running for this agency (scheduled, manual or another cron) makes this one skip.
        job_id = serasa_jobs.start_sync(agency, None, limit=limit, queue=False).id
        jobs.run_job(app, job_id)
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        summary = job.summary or {}
        if summary.get("skipped"):
            click.echo(f"{agency.name}: ignorada. {summary['skipped']}")
        elif job.error:
            click.echo(f"{agency.name}: falhou (tarefa nº {job.id}). {job.error}")
        else:
            click.echo(f"{agency.name}: {job.total} registro(s) consultado(s) {summary.get('counts') or {}} "
                       f"(tarefa nº {job.id})")
