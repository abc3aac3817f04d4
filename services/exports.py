"""Large list exports as jobs: the request records the job, a consumer writes the CSV file, the job page serves it.

A list export of more than ``EXPORT_JOB_THRESHOLD`` rows (counted with a bound, never whole: see
``ProtectedModelView.export``) is not streamed by the request. ``start_export`` records a job with the list's
query string (the user's filters, search and sort); ``export_job`` runs it on a consumer:

- as the user who asked (re-checked when the job runs: still active, same agency, still allowed to export), with
  the same scope, rows and cells as the streamed download (``admin_views.export.export_to_file``);
- into ``<EXPORT_DIR>/<job>-<screen>_<date>.csv.part``, renamed to its final name only once complete: a consumer
  killed mid-write leaves a ``.part`` that nobody is offered, and the job, taken over, writes it again from the
  first row; Cancelar stops it between batches and deletes the part;
- progress (rows written of the total) committed every ``PROGRESS_ROWS`` rows from a connection of its own, so the
  job page moves while the export's read runs.

The job page offers "Baixar arquivo (CSV)" (``admin_views.jobs.JobView.download_view``: only to who sees the job
and may export, audited). Files older than ``EXPORT_RETENTION_DAYS`` are deleted at the minute's tick.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update
from werkzeug.utils import secure_filename

from models import AuditLog, User, db
from models.agency import Capability
from models.job import Job, JobState
from models.timeutil import utcnow
from services import jobs

log = logging.getLogger(__name__)

EXPORT_KIND = "export"
#: Rows between two progress commits (and Cancelar checks) of an export job.
PROGRESS_ROWS = 2000

REFUSED = "Arquivo não gerado: quem pediu a exportação não pode mais exportar dados pessoais desta assessoria."


class ExportCancelled(Exception):
    """Cancelar was pressed while the file was being written."""


def export_dir() -> Path:
    """Where export jobs write their files (``EXPORT_DIR``, default ``instance/exports``)."""
    return Path(current_app.config.get("EXPORT_DIR") or Path(current_app.instance_path) / "exports")


def retention() -> timedelta:
    return timedelta(days=float(current_app.config.get("EXPORT_RETENTION_DAYS", 7)))


def start_export(view, user, query_string: str, description: str) -> Job:
    """Record (committed) and enqueue the export job of ``view``'s list as ``query_string`` selects it."""
    screen = f"{view.category} > {view.name}" if view.category else str(view.name)
    return jobs.start(EXPORT_KIND, user.agency_id, user, total=0, payload={
        "endpoint": view.endpoint, "screen": screen, "query": query_string,
        "filename": secure_filename(view.get_export_name("csv")), "description": description})


def stored_name(job: Job) -> str:
    """The file's name on disk: the job's number, then the name the user downloads (screen and date)."""
    return f"{job.id}-{secure_filename((job.payload or {}).get('filename') or 'exportacao.csv')}"


def file_state(job: Job) -> str | None:
    """"pronto" (done, the file is there), "expirado" (done, the file was deleted), or None (no file to offer)."""
    if job.kind != EXPORT_KIND or job.state != JobState.DONE or not (job.summary or {}).get("file"):
        return None
    return "pronto" if (export_dir() / job.summary["file"]).is_file() else "expirado"


def ready_file(job: Job) -> Path | None:
    return export_dir() / job.summary["file"] if file_state(job) == "pronto" else None


def _may_export(user: User | None, job: Job) -> bool:
    return (user is not None and user.active and user.agency_id == job.agency_id
            and user.can(Capability.EXPORT_PERSONAL_DATA))


def _save(job_id: int, **values) -> bool:
    """Commit the job's counts (and heartbeat) from a connection of its own; return whether Cancelar was pressed."""
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow(), **values))
        return bool(conn.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


@jobs.register(EXPORT_KIND, "Exportação de lista")
def export_job(ctx: jobs.JobContext) -> None:
    from admin_views.export import export_to_file

    job, payload = ctx.job, ctx.payload
    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    if not _may_export(user, job):
        job.summary = {"skipped": REFUSED}
        return
    directory = export_dir()
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / stored_name(job)
    part = final.with_name(final.name + ".part")
    final.unlink(missing_ok=True)
    job_id, user_id = job.id, user.id
    # On an in-memory SQLite (the screens' quick tests) every session shares one connection: counts at the end.
    own_connection = not jobs._shares_one_connection()
    db.session.commit()  # no transaction of this session stays open while the export reads

    def started(view) -> None:
        if own_connection:
            _save(job_id, total=view.export_count(), done=0)

    def wrote(rows: int) -> None:
        if own_connection and _save(job_id, done=rows):
            raise ExportCancelled

    started_at, stats = time.monotonic(), {}
    try:
        with open(part, "wb") as out:  # "wb": a job taken over after a crash writes the file from the start
            export_to_file(current_app._get_current_object(), payload["endpoint"], payload["query"], user_id, out,
                           on_start=started, on_rows=wrote, every=PROGRESS_ROWS, stats=stats)
            out.flush()
            os.fsync(out.fileno())
    except PermissionError:
        part.unlink(missing_ok=True)
        db.session.refresh(job)
        job.summary = {"skipped": REFUSED}
        return
    except ExportCancelled:
        part.unlink(missing_ok=True)
        db.session.refresh(job)
        job.summary = {"cancelled": True, "rows": job.done}
        return
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    written = stats["rows"]
    db.session.refresh(job)
    job.total = job.done = written
    job.summary = {"rows": written, "file": final.name, "filename": payload.get("filename"),
                   "screen": payload.get("screen"), "seconds": round(time.monotonic() - started_at, 1)}
    AuditLog.record("export", agency_id=job.agency_id, user_id=user_id, target=str(payload["endpoint"])[:120],
                    details=f"{payload.get('description', '')}; linhas: {written}; arquivo da tarefa nº {job.id}")


def remove_expired(now: datetime | None = None) -> int:
    """Delete the export files (and stray parts) older than the retention; return how many (run at each tick)."""
    directory = export_dir()
    if not directory.is_dir():
        return 0
    cutoff = ((now or utcnow()) - retention()).replace(tzinfo=UTC).timestamp()
    removed = 0
    for path in directory.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another consumer's tick got it first
            continue
    if removed:
        log.info("%s export file(s) past the retention deleted", removed)
    return removed


jobs.TICK_HOOKS.append(remove_expired)
