"""Serasa work as jobs: bulk inclusion (and resend of failures), status sync, due exclusions and the 5-year expiry,
plus their schedule (agency-local times, ``SERASA_SYNC_TIMES`` / ``SERASA_EXCLUSION_RETRY_MINUTES``).

Every step is durable: a job killed at any point resumes on another consumer; inclusions whose call may have
happened are checked at SOA (as *incerta*) before anything is sent again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from models import Agency, AuditLog, Debt, Negativation, NegativationBatch, db
from models.job import ItemState, Job, JobItem
from models.negativation import NegativationNotAllowed, live_records
from models.negativation import NegativationStatus as S
from models.timeutil import to_local
from services import jobs
from services import negativation as workflow
from services.serasa import CallLog

log = logging.getLogger(__name__)

INCLUDE = "serasa.include"
SYNC = "serasa.sync"
#: Items of an inclusion claimed per transaction.
CLAIM_CHUNK = 500


def _row(debt: Debt) -> dict:
    return {"debt_id": debt.id, "contract": debt.contract_number, "debtor": debt.debtor.name,
            "document": debt.debtor.document, "creditor": debt.creditor.name, "amount": str(debt.amount),
            "due_date": debt.due_date.isoformat()}


def start_inclusion(agency: Agency, user, debt_ids: list[int], restriction_code: str) -> Job:
    """Record the inclusion job (the debts were scoped by the caller) and return it at once."""
    return jobs.start(INCLUDE, agency, user, total=len(debt_ids),
                      payload={"debt_ids": list(debt_ids), "restriction_code": restriction_code})


def start_sync(agency: Agency, user, *, record_ids: list[int] | None = None, scope: str = "all",
               slot: str | None = None, lock_key: str | None = None, limit: int | None = None,
               queue: bool = True) -> Job:
    """Record a status sync job (all records that need SOA, the given ones, or only due exclusions)."""
    payload = {"scope": scope, "limit": int(limit or current_app.config.get("SERASA_SYNC_LIMIT", 200))}
    if record_ids is not None:
        payload["record_ids"] = list(record_ids)
    if slot:
        payload["slot"] = slot
    return jobs.start(SYNC, agency, user, total=len(record_ids) if record_ids is not None else 0, payload=payload,
                      lock_key=lock_key, queue=queue)


# --- inclusion ---------------------------------------------------------------------------------------------

@jobs.register(INCLUDE, "Negativar no Serasa")
def run_inclusion(ctx: jobs.JobContext) -> None:
    job = ctx.job
    agency = db.session.get(Agency, job.agency_id)
    user_id, code = job.created_by_id, ctx.payload.get("restriction_code") or "1"
    if not ctx.items():
        ctx.add_items(((str(i), {}) for i in ctx.payload.get("debt_ids", [])), total=False)
        AuditLog.record("serasa.include.start", agency_id=agency.id, user_id=user_id, target=str(job),
                        details=f"dividas={job.total}")
        ctx.commit()
    calls = CallLog(agency.id, user_id)
    with workflow.keep_loaded():
        try:
            client = workflow.make_client(agency, calls, inclusion=True)
        except NegativationNotAllowed as exc:
            for item in ctx.items(ItemState.WAITING):
                ctx.finish_item(item, "recusada", reason=str(exc), commit=False)
            ctx.commit()
            _finish_report(ctx, agency, code)
            return
        with client:
            _recheck_interrupted(ctx, agency, user_id)
            _claim_items(ctx, agency, user_id, code)
            _send_items(ctx, agency, client, user_id, calls)
        calls.flush()
        ctx.commit()
    _finish_report(ctx, agency, code)


def _recheck_interrupted(ctx: jobs.JobContext, agency: Agency, user_id) -> None:
    """Items whose SOA call may have happened when the last consumer died: incerta, consulted before resending."""
    sending = ctx.items(ItemState.SENDING)
    if not sending:
        return
    records = workflow.records_of(i.ref_id for i in sending)
    by_record = {i.ref_id: i for i in sending}
    uncertain = []
    for item in sending:
        record = records.get(item.ref_id)
        if record is None or record.status != S.PENDING:
            item.state = ItemState.WAITING  # answered in the same transaction as the item: cannot happen
            continue
        record.move(S.UNCERTAIN, actor_id=user_id, message="Envio interrompido (o processo parou durante a chamada "
                                                            "ao SOA): conferindo no SOA antes de qualquer reenvio.")
        uncertain.append(record)
    ctx.commit()

    def checked(record, result):
        item = by_record[record.id]
        if record.status == S.ERROR:  # SOA has no such inclusion: safe to send now
            item.state = ItemState.WAITING
        elif record.status == S.UNCERTAIN:
            ctx.finish_item(item, "falhou", failed=True, commit=False,
                            reason="Resultado incerto: não foi possível conferir no SOA agora; não será reenviada "
                                   "antes de conferida (Atualizar situação).")
        else:
            ctx.finish_item(item, "incluida", reason=f"Protocolo {record.unique_id} (conferido no SOA após "
                                                     "interrupção)", commit=False)

    workflow.sync_records(agency, uncertain, user_id, on_result=checked)
    ctx.commit()


def _claim_items(ctx: jobs.JobContext, agency: Agency, user_id, code: str) -> None:
    """Check and claim the items not claimed yet, one transaction per chunk of CLAIM_CHUNK debts."""
    unclaimed = [i for i in ctx.items(ItemState.WAITING) if i.ref_id is None and i.result is None]
    for start in range(0, len(unclaimed), CLAIM_CHUNK):
        if ctx.cancelled():
            return
        chunk = unclaimed[start:start + CLAIM_CHUNK]
        ids = [int(i.key) for i in chunk]
        debts = {d.id: d for d in db.session.scalars(
            select(Debt).options(joinedload(Debt.debtor), joinedload(Debt.creditor))
            .where(Debt.id.in_(ids), Debt.agency_id == agency.id)).unique()}
        ordered = [debts[i] for i in ids if i in debts]
        claimed, refused = workflow.claim_batch(agency, ordered, user_id, code)
        by_debt = {int(i.key): i for i in chunk}
        for outcome in refused:
            item = by_debt[outcome.debt.id]
            item.data = _row(outcome.debt)
            ctx.finish_item(item, "recusada", reason=outcome.reason, commit=False,
                            ref_id=outcome.negativation.id if outcome.negativation else None)
        for debt, record in claimed:
            by_debt[debt.id].data = _row(debt)
            by_debt[debt.id].ref_id = record.id
        for debt_id, item in by_debt.items():
            if debt_id not in debts:
                ctx.finish_item(item, "recusada", reason="Dívida não encontrada nesta assessoria.", commit=False)
        ctx.commit()  # the pending records exist before anything reaches SOA


def _send_items(ctx: jobs.JobContext, agency: Agency, client, user_id, calls: CallLog) -> None:
    items = [i for i in ctx.items(ItemState.WAITING) if i.ref_id is not None and i.result is None]
    if not items or ctx.cancelled():
        return
    records = {r.id: r for r in db.session.scalars(
        select(Negativation).options(joinedload(Negativation.debt).joinedload(Debt.debtor),
                                     joinedload(Negativation.debt).joinedload(Debt.creditor))
        .where(Negativation.id.in_([i.ref_id for i in items]))).unique()}
    by_record = {i.ref_id: i for i in items}
    claimed = []
    for item in items:
        record = records.get(item.ref_id)
        if record is not None and record.status == S.ERROR:  # checked at SOA (not there) or never sent
            record.move(S.PENDING, actor_id=user_id, message="Nova tentativa de inclusão.")
        if record is None or record.status != S.PENDING:
            ctx.finish_item(item, "recusada", commit=False, reason="A negativação mudou de situação por outro "
                            f"caminho ({record.serasa_label if record else 'removida'}); não foi enviada.")
            continue
        claimed.append((record.debt, record))
    ctx.commit()

    def on_outcome(outcome) -> None:
        item = by_record[outcome.negativation.id]
        if outcome.result == "cancelada":
            item.state, item.result, item.reason = ItemState.FINISHED, "cancelada", outcome.reason
            return
        ctx.finish_item(item, outcome.result, reason=outcome.reason, failed=outcome.result == "falhou",
                        commit=False)

    def before_submit(record_ids) -> None:
        ctx.mark_sending([by_record[i] for i in record_ids])

    workflow.send_claimed(agency, client, claimed, user_id, calls, on_outcome=on_outcome,
                          before_submit=before_submit, stop=ctx.cancelled)


def _finish_report(ctx: jobs.JobContext, agency: Agency, code: str) -> None:
    """Keep the per-debt report (Relatórios de envio) and the audit entry of the batch."""
    job = ctx.job
    if job.summary.get("batch_id"):
        return
    outcomes = []
    for item in ctx.items():
        if not item.data:
            continue
        outcomes.append({**item.data, "result": item.result or "falhou",
                         "reason": item.reason or "Não enviada.", "negativation_id": item.ref_id})
    batch = NegativationBatch(agency_id=agency.id, user_id=job.created_by_id, restriction_code=code,
                              outcomes=[o for o in outcomes if o["result"] in ("incluida", "recusada", "falhou")]
                              + [{**o, "result": "falhou"} for o in outcomes if o["result"] == "cancelada"])
    db.session.add(batch)
    db.session.flush()
    counts = {r: sum(1 for o in outcomes if o["result"] == r) for r in ("incluida", "recusada", "falhou", "cancelada")}
    job.summary = {**job.summary, "batch_id": batch.id, **counts}
    AuditLog.record("serasa.include", agency_id=agency.id, user_id=job.created_by_id,
                    target=f"Negativar no Serasa: relatório nº {batch.id}",
                    details=f"dividas={job.total}; incluidas={counts['incluida']}; recusadas={counts['recusada']}; "
                            f"falhas={counts['falhou']}; canceladas={counts['cancelada']}; tarefa={job.id}")
    ctx.commit()


# --- status sync, due exclusions, 5-year expiry ------------------------------------------------------------

def sync_lock_key(agency_id: int) -> str:
    return f"serasa-sync-{agency_id}"


@jobs.register(SYNC, "Atualizar situação no Serasa")
def run_sync(ctx: jobs.JobContext) -> None:
    job = ctx.job
    agency = db.session.get(Agency, job.agency_id)
    holder = ctx.lock(sync_lock_key(agency.id))
    if holder is not None:
        job.summary = {"skipped": f"Outra atualização desta assessoria está em andamento (tarefa nº {holder.id}); "
                                  "esta terminou sem consultar o SOA."}
        job.total = job.done + job.failed
        ctx.commit()
        return
    if not ctx.items():
        records = _records_for(agency, ctx.payload)
        ctx.add_items(((str(r.id), {"document": r.document, "contract": r.contract_number}, r.id) for r in records),
                      total=False)
        job.total = len(records)
        ctx.commit()
    items = ctx.pending_items()
    by_record = {i.ref_id: i for i in items}
    records = list(db.session.scalars(select(Negativation).where(Negativation.id.in_(list(by_record)))
                                      .order_by(Negativation.id))) if items else []
    counts = dict(job.summary.get("counts") or {"atualizadas": 0, "sem_mudanca": 0, "falhas": 0})

    def on_result(record, result) -> None:
        item = by_record[record.id]
        item.data = {**item.data, "status": record.status}
        ctx.finish_item(item, result, failed=result == "falhou", commit=False,
                        reason=record.soa_message if result != "sem_mudanca" else "")

    with workflow.keep_loaded():
        summary = workflow.sync_records(agency, records, job.created_by_id, on_result=on_result, stop=ctx.cancelled)
    for key, value in summary.items():
        counts[key] = counts.get(key, 0) + value
    job.summary = {**job.summary, "counts": counts}
    AuditLog.record("serasa.sync", agency_id=agency.id, user_id=job.created_by_id, target=str(job),
                    details=f"registros={len(records)}; {summary}")
    ctx.commit()


def _records_for(agency: Agency, payload: dict) -> list[Negativation]:
    if payload.get("record_ids") is not None:
        return list(db.session.scalars(select(Negativation).where(
            Negativation.agency_id == agency.id, Negativation.id.in_(payload["record_ids"]))
            .order_by(Negativation.id)))
    limit = int(payload.get("limit") or 200)
    if payload.get("scope") == "exclusions":
        records = [r for r in workflow.records_to_sync(agency, limit * 5) if r.exclusion_due][:limit]
    else:
        records = workflow.records_to_sync(agency, limit)
    db.session.commit()  # the 5-year expiry marks
    return records


# --- schedule ----------------------------------------------------------------------------------------------

def _sync_times() -> list[str]:
    raw = current_app.config.get("SERASA_SYNC_TIMES") or ""
    times = []
    for part in raw.split(","):
        part = part.strip()
        if len(part) == 5 and part[2] == ":" and part.replace(":", "").isdigit():
            times.append(part)
    return times


def due_slots(agency: Agency, now_utc: datetime) -> list[tuple[str, str]]:
    """What the schedule starts for the agency at this minute: [(scope, slot)], in the agency's time zone."""
    local = to_local(now_utc, agency.timezone or "America/Sao_Paulo")
    hhmm = local.strftime("%H:%M")
    due = []
    if hhmm in _sync_times():
        due.append(("all", f"{local:%Y-%m-%d} {hhmm}"))
    every = int(current_app.config.get("SERASA_EXCLUSION_RETRY_MINUTES", 0) or 0)
    if every > 0 and (local.hour * 60 + local.minute) % every == 0 and not due:
        due.append(("exclusions", f"{local:%Y-%m-%d} {hhmm} baixas"))
    return due


def schedule(now_utc: datetime) -> list[Job]:
    """Start the scheduled syncs due this minute (one per agency and slot, whoever runs the tick)."""
    started = []
    agencies = [a for a in db.session.scalars(select(Agency).order_by(Agency.id))
                if a.has_soa_credentials and (a.serasa_enabled or live_records(a.id))]
    for agency in agencies:
        for scope, slot in due_slots(agency, now_utc):
            recent = db.session.scalars(select(Job).where(
                Job.agency_id == agency.id, Job.kind == SYNC, Job.created_by_id.is_(None),
                Job.created_at >= now_utc - timedelta(minutes=2)))
            if any((j.payload or {}).get("slot") == slot for j in recent):
                continue
            try:  # two consumers' ticks at the same instant: the unique slot key lets one job through
                started.append(start_sync(agency, None, scope=scope, slot=slot,
                                          lock_key=f"slot-{agency.id}-{slot}"[:60]))
            except IntegrityError:
                db.session.rollback()
    db.session.commit()
    return started


def _scheduled(now_utc: datetime) -> None:
    schedule(now_utc.replace(second=0, microsecond=0))


jobs.TICK_HOOKS.append(_scheduled)


def items_of(job: Job, after_seq: int = -1, limit: int = 500) -> list[JobItem]:
    return list(db.session.scalars(select(JobItem).where(JobItem.job_id == job.id, JobItem.seq > after_seq,
                                                         JobItem.result.is_not(None))
                                   .order_by(JobItem.seq).limit(limit)))

