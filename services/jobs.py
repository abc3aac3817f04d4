"""Jobs: long work off the web request, run by Huey consumers (SQLite file by default, Redis with REDIS_URL).

API (screens, CLI and other services use only this):

    from services import jobs

    @jobs.register("portfolio.import", "Importação de carteira")
    def run_import(ctx: jobs.JobContext) -> None:
        for item in ctx.pending_items():        # JobItems not finished yet: a resumed job skips the finished ones
            if ctx.cancelled():                 # Cancelar: checked between items, never in the middle of one
                break
            ...                                 # do the work of one item (ctx.job.payload has the options)
            ctx.finish_item(item, "importado", reason="...", failed=False)   # committed at once, counts move
        ctx.job.summary = {...}                 # committed when the function returns

    job = jobs.start("portfolio.import", agency, user, payload={...}, items=[("linha-1", {...}), ...])
    # committed and enqueued (the caller's session is committed too); the request answers at once with
    # url_for("jobs.details_view", id=job.id): progress bar, live counts, per-item results, Cancelar.

Lower level: ``ctx.add_items([(key, data), ...])`` (items discovered by the job itself), ``ctx.advance(done=n,
failed=m)`` (counts + heartbeat, committed), ``ctx.mark_sending(items)`` (one UPDATE: these items' external calls
may happen from now on), ``ctx.commit()``.

A job function must be resumable: when its consumer dies (SIGKILL, machine lost), another consumer takes the job
over after ``JOB_STALE_SECONDS`` without a heartbeat and runs the function again; items still in
``ItemState.SENDING`` are those whose external call may have happened (the function must check them before
sending again). ``Job.visible_to(user)`` scopes job lists and pages.

Consumers: ``flask --app app worker`` in production (any number, on any machine sharing the database and, with
``REDIS_URL``, the queue); ``make run`` starts one inside the development server (``start_in_process``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from models import db
from models.job import ACTIVE_STATES, ItemState, Job, JobItem, JobState
from models.timeutil import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "painel:consumer-heartbeat"


@dataclass
class JobKind:
    name: str
    label: str
    run: Callable[[JobContext], None]


KINDS: dict[str, JobKind] = {}


def register(kind: str, label: str):
    """Register the function that runs jobs of ``kind`` (``label`` is what people read, pt-BR)."""
    def decorator(fn):
        KINDS[kind] = JobKind(kind, label, fn)
        return fn
    return decorator


def label_of(kind: str) -> str:
    return KINDS[kind].label if kind in KINDS else kind


# --- the queue ---------------------------------------------------------------------------------------------

def make_huey(app: Flask):
    """Build the app's Huey: RedisHuey when REDIS_URL is set, else SqliteHuey in a file (instance/huey.db)."""
    name = app.config.get("HUEY_NAME") or "painel"
    if app.config.get("REDIS_URL"):
        return RedisHuey(name, url=app.config["REDIS_URL"], results=False, utc=True)
    path = app.config.get("HUEY_SQLITE_FILE") or os.path.join(app.instance_path, "huey.db")
    return SqliteHuey(name, filename=path, results=False, utc=True)


def init_app(app: Flask) -> None:
    """Create the app's queue and register its tasks (the job runner and the periodic tick)."""
    huey = make_huey(app)
    app.extensions["huey"] = huey

    @huey.task(name="run_job")
    def run_job_task(job_id: int) -> None:
        run_job(app, job_id)

    @huey.periodic_task(crontab(minute="*"), name="tick")
    def tick_task() -> None:
        with app.app_context():
            tick()

    @huey.on_startup(name="recover")
    def on_startup() -> None:
        with app.app_context():
            recover()

    app.extensions["huey_tasks"] = {"run_job": run_job_task}


def huey_of(app: Flask | None = None):
    return (app or current_app).extensions["huey"]


def enqueue(job_id: int, app: Flask | None = None) -> None:
    """Put the job on the queue; a lost message is recovered by ``recover`` (the job row is the truth)."""
    app = app or current_app._get_current_object()
    try:
        app.extensions["huey_tasks"]["run_job"](job_id)
    except Exception:  # the queue is down: the job stays queued and the next tick re-enqueues it
        log.exception("could not enqueue job %s", job_id)


def start(kind: str, agency, user, *, total: int | None = None, payload: dict | None = None,
          items: Iterable[tuple[str, dict]] | None = None, lock_key: str | None = None,
          queue: bool = True) -> Job:
    """Record a job (and its items), commit, enqueue it and return it at once.

    ``queue=False``: the caller runs it itself (``run_job``), e.g. a cron command; the job still shows on the job
    pages, and a consumer that finds it (``recover``) cannot run it twice (``_claim`` lets one through).

    ``lock_key``: a unique key the job holds while queued (e.g. one scheduled slot): a second job with the same
    key is refused by the database (IntegrityError, nothing recorded).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown job kind: {kind}")
    job = Job(kind=kind, agency_id=agency.id if hasattr(agency, "id") else agency,
              created_by_id=getattr(user, "id", user), state=JobState.QUEUED, payload=payload or {}, summary={},
              total=0, done=0, failed=0, cancel_requested=False, attempts=0, lock_key=lock_key)
    db.session.add(job)
    db.session.flush()
    count = _insert_items(job.id, 0, items or ())
    job.total = total if total is not None else count
    db.session.commit()
    if queue:
        enqueue(job.id)
    return job


def _insert_items(job_id: int, first_seq: int, items: Iterable[tuple[str, dict]]) -> int:
    rows = [{"job_id": job_id, "seq": first_seq + i, "key": str(item[0]), "state": ItemState.WAITING,
             "data": item[1] or {}, "ref_id": item[2] if len(item) > 2 else None, "updated_at": utcnow()}
            for i, item in enumerate(items)]
    for start_ in range(0, len(rows), 1000):
        db.session.execute(insert(JobItem), rows[start_:start_ + 1000])
    return len(rows)


def cancel(job: Job) -> bool:
    """Ask the job to stop sending what has not been sent; a queued job is cancelled at once."""
    if not job.is_active:
        return False
    job.cancel_requested = True
    if job.state == JobState.QUEUED:
        job.state, job.finished_at = JobState.CANCELLED, utcnow()
    db.session.commit()
    return True


# --- running a job -----------------------------------------------------------------------------------------

def stale_after() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("JOB_STALE_SECONDS", 60)))


def _claim(job_id: int) -> bool:
    """Take the job with one conditional UPDATE: queued, or running without a heartbeat for JOB_STALE_SECONDS."""
    now = utcnow()
    result = db.session.execute(
        update(Job).where(Job.id == job_id, or_(
            Job.state == JobState.QUEUED,
            (Job.state == JobState.RUNNING)
            & or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - stale_after())))
        .values(state=JobState.RUNNING, heartbeat_at=now, attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


class _Heartbeat(threading.Thread):
    """Refresh the job's heartbeat from its own connection while the job function works (even mid-call)."""

    def __init__(self, app: Flask, job_id: int):
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.app, self.job_id, self.stopped = app, job_id, threading.Event()
        self.interval = max(0.2, float(app.config.get("JOB_STALE_SECONDS", 60)) / 4)

    def run(self) -> None:
        with self.app.app_context():
            while not self.stopped.wait(self.interval):
                try:
                    with db.engine.begin() as conn:
                        conn.execute(update(Job).where(Job.id == self.job_id, Job.state == JobState.RUNNING)
                                     .values(heartbeat_at=utcnow()))
                except Exception:  # the next beat tries again
                    log.exception("heartbeat of job %s failed", self.job_id)


def _shares_one_connection() -> bool:
    """In-memory SQLite has one connection for everything: no second thread may use it."""
    url = db.engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def run_job(app: Flask, job_id: int) -> None:
    """Run (or resume) one job; called by the consumer. Exactly one consumer runs a job at a time."""
    with app.app_context():
        try:
            if not _claim(job_id):
                return
            job = db.session.get(Job, job_id)
            heartbeat = None if _shares_one_connection() else _Heartbeat(app, job_id)
            if heartbeat:
                heartbeat.start()
            try:
                KINDS[job.kind].run(JobContext(job))
                db.session.refresh(job, ["cancel_requested"])
                job.state = JobState.CANCELLED if job.cancel_requested and job.processed < job.total else (
                    JobState.DONE)
                job.finished_at, job.lock_key = utcnow(), None
                db.session.commit()
            except Exception as exc:
                log.exception("job %s failed", job_id)
                db.session.rollback()
                job = db.session.get(Job, job_id)
                job.state, job.finished_at, job.lock_key = JobState.FAILED, utcnow(), None
                job.error = f"Erro inesperado: {exc.__class__.__name__}. A equipe técnica foi avisada pelo log."
                db.session.commit()
            finally:
                if heartbeat:
                    heartbeat.stopped.set()
                    heartbeat.join()
        finally:
            db.session.remove()


class JobContext:
    """What a job function gets: its job, its items, and the means to record progress as it goes."""

    def __init__(self, job: Job):
        self.job = job
        self._last_cancel_check = 0.0

    @property
    def payload(self) -> dict:
        return self.job.payload or {}

    def commit(self) -> None:
        self.job.heartbeat_at = utcnow()
        db.session.commit()

    def lock(self, key: str) -> Job | None:
        """Hold ``key`` for this job (released when it ends); return the live job holding it instead, if any.

        One unique column decides, on every database: two consumers never hold the same key. A holder whose
        consumer died (no heartbeat for JOB_STALE_SECONDS, or over) loses it.
        """
        for _ in range(2):
            try:
                with db.session.begin_nested():
                    self.job.lock_key = key
                    db.session.flush()
                self.commit()
                return None
            except IntegrityError:
                self.job.lock_key = None
            holder = db.session.scalar(select(Job).where(Job.lock_key == key))
            if holder is None:
                continue
            alive = holder.heartbeat_at is not None and holder.heartbeat_at >= utcnow() - stale_after()
            if holder.state in ACTIVE_STATES and alive:
                db.session.commit()
                return holder
            db.session.execute(update(Job).where(Job.id == holder.id, Job.lock_key == key).values(lock_key=None)
                               .execution_options(synchronize_session=False))
            db.session.commit()
        return db.session.scalar(select(Job).where(Job.lock_key == key))

    def cancelled(self) -> bool:
        """Tell whether someone pressed Cancelar (read from the database, at most every 0.2 s)."""
        now = time.monotonic()
        if now - self._last_cancel_check >= 0.2:
            self._last_cancel_check = now
            self.job.cancel_requested = bool(db.session.scalar(
                select(Job.cancel_requested).where(Job.id == self.job.id)))
        return self.job.cancel_requested

    def add_items(self, items: Iterable[tuple], *, total: bool = True) -> None:
        """Add items (key, data[, ref_id]) after the existing ones; ``total`` counts them in the job's total."""
        first = db.session.scalar(select(func.coalesce(func.max(JobItem.seq), -1)).where(
            JobItem.job_id == self.job.id)) + 1
        count = _insert_items(self.job.id, first, items)
        if total:
            self.job.total += count
        self.commit()

    def items(self, *states: str) -> list[JobItem]:
        query = select(JobItem).where(JobItem.job_id == self.job.id)
        if states:
            query = query.where(JobItem.state.in_([str(s) for s in states]))
        return list(db.session.scalars(query.order_by(JobItem.seq)))

    def pending_items(self) -> list[JobItem]:
        return self.items(ItemState.WAITING, ItemState.SENDING)

    def mark_sending(self, items: list[JobItem]) -> None:
        """Record (committed, one UPDATE) that these items' external calls may happen from now on."""
        ids = [i.id for i in items]
        for start_ in range(0, len(ids), 1000):
            db.session.execute(update(JobItem).where(JobItem.id.in_(ids[start_:start_ + 1000]))
                               .values(state=ItemState.SENDING).execution_options(synchronize_session=False))
        for item in items:
            item.state = ItemState.SENDING
        self.commit()

    def finish_item(self, item: JobItem, result: str, *, reason: str = "", failed: bool = False,
                    ref_id: int | None = None, commit: bool = True) -> None:
        item.state, item.result, item.reason = ItemState.FINISHED, result, reason
        if ref_id is not None:
            item.ref_id = ref_id
        self.advance(done=0 if failed else 1, failed=1 if failed else 0, commit=False)
        item.finished_no = self.job.processed
        if commit:
            self.commit()

    def advance(self, done: int = 0, failed: int = 0, *, commit: bool = True) -> None:
        self.job.done += done
        self.job.failed += failed
        if commit:
            self.commit()


# --- recovery, schedule, health ----------------------------------------------------------------------------

def recover() -> int:
    """Re-enqueue jobs whose consumer died (running, heartbeat too old) and queued jobs whose message was lost."""
    now = utcnow()
    stale = list(db.session.scalars(select(Job.id).where(
        Job.state == JobState.RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - stale_after()))))
    queued: list[int] = []
    huey = huey_of()
    if huey.pending_count() == 0:  # nothing waits on the queue, yet the database has jobs waiting: lost messages
        queued = list(db.session.scalars(select(Job.id).where(Job.state == JobState.QUEUED,
                                                              Job.created_at < now - timedelta(seconds=2))))
    db.session.commit()
    for job_id in stale + queued:
        enqueue(job_id)
    return len(stale) + len(queued)


#: Extra work done at each minute's tick (the Serasa schedule registers itself here).
TICK_HOOKS: list[Callable[[datetime], None]] = []


def tick(now: datetime | None = None) -> None:
    """Run every minute by a consumer: recover dead jobs, then the scheduled work."""
    recover()
    for hook in TICK_HOOKS:
        try:
            hook(now or utcnow())
        except Exception:
            log.exception("scheduled task %s failed", getattr(hook, "__name__", hook))
            db.session.rollback()


def beat(app: Flask) -> None:
    """Record that a consumer is alive (read by /healthz)."""
    huey_of(app).storage.put_data(HEARTBEAT_KEY, str(time.time()).encode())


def last_heartbeat(app: Flask | None = None) -> float | None:
    from huey.constants import EmptyData

    try:
        value = huey_of(app).storage.peek_data(HEARTBEAT_KEY)
    except Exception:
        return None
    if value is EmptyData or value is None:
        return None
    return float(value.decode() if isinstance(value, bytes) else value)


def queue_health() -> dict:
    """Backlog (jobs waiting or running), the oldest waiting job's age, the last consumer heartbeat's age."""
    now = utcnow()
    waiting = db.session.execute(select(func.count(Job.id), func.min(Job.created_at)).where(
        Job.state == JobState.QUEUED)).one()
    running = db.session.scalar(select(func.count(Job.id)).where(Job.state == JobState.RUNNING))
    try:
        queued_messages = huey_of().pending_count()
        queue_ok = True
    except Exception:
        queued_messages, queue_ok = None, False
    beat_at = last_heartbeat()
    return {
        "queue_reachable": queue_ok,
        "queued_messages": queued_messages,
        "jobs_waiting": waiting[0],
        "jobs_running": running,
        "oldest_waiting_seconds": int((now - waiting[1]).total_seconds()) if waiting[1] else None,
        "consumer_heartbeat_seconds_ago": round(time.time() - beat_at, 1) if beat_at else None,
    }


# --- consumers ---------------------------------------------------------------------------------------------

class PanelConsumer(Consumer):
    """Huey's consumer, plus a heartbeat for /healthz; usable outside the main thread (no signal handlers).

    ``signals=False`` (inside another server, ``make run``): Huey's handlers would take Ctrl-C and SIGTERM for a
    consumer loop that never runs, and the server would not stop.
    """

    def __init__(self, app: Flask, *, signals: bool = True, **options):
        self.app = app
        self._signals = signals
        super().__init__(huey_of(app), **options)
        self._beating = threading.Event()

    def _set_signal_handlers(self):
        if self._signals and threading.current_thread() is threading.main_thread():
            super()._set_signal_handlers()

    def start(self):
        super().start()
        interval = float(self.app.config.get("CONSUMER_HEARTBEAT_SECONDS", 10))

        def beating():
            while not self._beating.is_set():
                try:
                    beat(self.app)
                except Exception:
                    log.exception("consumer heartbeat failed")
                self._beating.wait(interval)
        threading.Thread(target=beating, daemon=True, name="consumer-heartbeat").start()

    def stop(self, graceful=False):
        self._beating.set()
        super().stop(graceful=graceful)


def consumer(app: Flask, workers: int | None = None, periodic: bool = True, signals: bool = True) -> PanelConsumer:
    workers = workers or int(app.config.get("JOB_WORKERS", 2))
    return PanelConsumer(app, signals=signals, workers=workers, periodic=periodic, worker_type="thread",
                         initial_delay=0.05, max_delay=float(app.config.get("JOB_POLL_MAX_SECONDS", 1.0)), backoff=1.2)


def start_in_process(app: Flask, workers: int | None = None) -> PanelConsumer:
    """Start a consumer in this process's threads (``make run``); returns it (call ``.stop()``).

    The process's own server keeps Ctrl-C and SIGTERM; its shutdown stops the consumer.
    """
    worker = consumer(app, workers, signals=False)
    worker.start()
    return worker


def run_pending(app: Flask) -> int:
    """Execute, in this thread, every task on the queue (the consumer's own path); return how many ran.

    For the quick tests of screens that start jobs on an in-memory database; the job tests use real consumers.
    """
    huey = huey_of(app)
    count = 0
    while True:
        task = huey.dequeue()
        if task is None:
            return count
        huey.execute(task)
        count += 1


def user_active_jobs(user) -> list[Job]:
    """The user's own jobs not over yet (navbar notice)."""
    return list(db.session.scalars(select(Job).where(Job.created_by_id == user.id, Job.state.in_(
        [str(s) for s in ACTIVE_STATES])).order_by(Job.id.desc()).limit(5)))
