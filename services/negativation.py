"""Negativation workflows: include debts (bulk, concurrent), sync status, exclude (manual and automatic).

Functions take model objects, talk to SOA through ``integrations.serasa`` and leave committing to the caller,
except where a step must be durable before the next call to SOA (the pending record before an inclusion).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from integrations.serasa import InclusionRequest, SerasaClient, SerasaError, SerasaRefused
from models import Agency, Debt, Negativation, db
from models.agency import CredentialsError
from models.negativation import (
    EXCLUSION_CODE_BY_MOTIVE,
    MOTIVE_LABELS,
    OPEN_STATES,
    SYNC_STATES,
    ExclusionMotive,
    NegativationNotAllowed,
    Transitions,
    check_exclusion_request,
    eligibility_problems,
    latest_by_debt,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today, utcnow
from services.serasa import CallLog, client_for

log = logging.getLogger(__name__)

#: SOA exclusion (baixa) code per motive (the code follows the motive; see models.negativation).
DEFAULT_EXCLUSION_CODES = EXCLUSION_CODE_BY_MOTIVE


@dataclass
class DebtOutcome:
    debt: Debt
    result: str  # "incluida" | "recusada" | "falhou"
    reason: str = ""
    negativation: Negativation | None = None


@dataclass
class BulkReport:
    outcomes: list[DebtOutcome] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)


def make_client(agency: Agency, calls: CallLog, *, inclusion: bool = False) -> SerasaClient:
    """Build a client with the agency's saved credentials.

    Switching the integration off stops new inclusions only: the law keeps running for the records already at
    the bureau, so status sync and exclusions go on with the stored credentials.
    """
    if inclusion and not agency.serasa_enabled:
        raise NegativationNotAllowed("A integração com o Serasa está desabilitada no Perfil da assessoria.")
    if not agency.has_soa_credentials:
        raise NegativationNotAllowed("Cadastre o e-mail e a senha da conta SOA no Perfil > Serasa (SOA WS).")
    try:
        return client_for(agency, calls=calls)
    except CredentialsError as exc:
        raise NegativationNotAllowed(str(exc)) from None


_CODE_CACHE: dict[tuple[int, str, str], tuple[float, list]] = {}
CODE_CACHE_SECONDS = 3600


def cached_codes(agency: Agency, kind: str, calls: CallLog) -> list:
    """Return SOA's restriction or exclusion codes, cached for an hour per agency and environment."""
    key = (agency.id, agency.soa_environment, kind)
    hit = _CODE_CACHE.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    client = make_client(agency, calls, inclusion=kind == "restriction")
    codes = client.restriction_codes() if kind == "restriction" else client.exclusion_codes()
    _CODE_CACHE[key] = (time.monotonic() + CODE_CACHE_SECONDS, codes)
    return codes


def _request_for(record: Negativation) -> InclusionRequest:
    debt, debtor, creditor = record.debt, record.debt.debtor, record.debt.creditor
    return InclusionRequest(
        document=record.document, name=debtor.name, birth_date=debtor.birth_date if debtor.is_person else None,
        street=debtor.street, number=debtor.number, complement=debtor.complement or "",
        neighbourhood=debtor.neighbourhood, city=debtor.city, uf=debtor.uf, cep=debtor.cep,
        restriction_code=record.restriction_code or "1", contract=record.contract_number, due_date=debt.due_date,
        amount=record.amount, creditor_document=creditor.cnpj, creditor_name=creditor.name)


def _claim(debt: Debt, user_id: int | None, restriction_code: str) -> Negativation | str:
    """Insert the pending record in its own savepoint; the unique index refuses a second open one.

    The slow path of ``claim_batch``, taken only when a concurrent claim made the batch's transaction fail.
    """
    existing = db.session.scalar(select(Negativation).where(Negativation.debt_id == debt.id,
                                                           Negativation.status.in_(OPEN_STATES)))
    if existing is not None and existing.status != S.ERROR:
        return f"já existe uma negativação em andamento para esta dívida (nº {existing.id}, {existing.status})"
    if existing is not None:  # a failed attempt: retry the same record
        existing.restriction_code = restriction_code
        existing.move(S.PENDING, actor_id=user_id, message="Nova tentativa de inclusão.")
        return existing
    record = Negativation.for_debt(debt, user_id, restriction_code)
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        return "já existe uma negativação em andamento para esta dívida"
    return record


def claim_batch(agency: Agency, debts: list[Debt], user_id: int | None, restriction_code: str
                ) -> tuple[list[tuple[Debt, Negativation]], list[DebtOutcome]]:
    """Check each debt and claim its pending record, all in one transaction (the caller commits).

    Debts must come with their debtor and creditor loaded. One query finds the open records of all of them;
    when a concurrent request claims one of the same debts first, the unique index fails the batch and it is
    redone debt by debt (savepoints), so that request's record is reported and the others still go.
    """
    today = local_today(agency.timezone)
    refused: list[DebtOutcome] = []
    eligible: list[Debt] = []
    for debt in debts:
        problems = eligibility_problems(debt, today)
        if problems:
            refused.append(DebtOutcome(debt, "recusada", _sentence("; ".join(problems))))
        else:
            eligible.append(debt)
    open_records = {r.debt_id: r for r in db.session.scalars(select(Negativation).where(
        Negativation.debt_id.in_([d.id for d in eligible]), Negativation.status.in_(OPEN_STATES)))} \
        if eligible else {}
    claimed: list[tuple[Debt, Negativation]] = []
    try:
        with db.session.begin_nested():
            new: list[Debt] = []
            for debt in eligible:
                existing = open_records.get(debt.id)
                if existing is not None and existing.status != S.ERROR:
                    refused.append(DebtOutcome(debt, "recusada", _sentence(
                        f"já existe uma negativação em andamento para esta dívida (nº {existing.id}, "
                        f"{existing.status})"), existing))
                    continue
                if existing is not None:  # a failed attempt: retry the same record
                    set_committed_value(existing, "debt", debt)  # already loaded: no query per record
                    existing.restriction_code = restriction_code
                    existing.move(S.PENDING, actor_id=user_id, message="Nova tentativa de inclusão.")
                    claimed.append((debt, existing))
                    continue
                new.append(debt)
                claimed.append((debt, None))
            db.session.flush()
            records = iter(Negativation.claim_many(new, user_id, restriction_code))
            # The user's order (what does not fit the balance is the end of their list, as the preview said).
            claimed = [(debt, record if record is not None else next(records)) for debt, record in claimed]
    except IntegrityError:
        claimed, refused = [], [o for o in refused if o.result == "recusada" and o.negativation is None]
        for debt in eligible:
            record = _claim(debt, user_id, restriction_code)
            if isinstance(record, str):
                refused.append(DebtOutcome(debt, "recusada", _sentence(record)))
            else:
                claimed.append((debt, record))
    return claimed, refused


@contextmanager
def keep_loaded():
    """Commit as often as needed without expiring what is loaded (no reload, one query per object, after it)."""
    session = db.session()
    before = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = before


def pump(tasks, apply, *, workers: int, calls: CallLog, before_submit=None, stop=None, write=None) -> list:
    """Run SOA calls concurrently (at most ``workers`` at once) and record each answer as it arrives.

    ``tasks``: (key, call) pairs, ``call()`` runs in a worker thread and must not touch the database.
    ``apply(key, result)`` runs in this thread with the result (or the SerasaError raised) and may return another
    call for the same key (a second step). Answers are committed in groups (``write()`` first, when given, then
    the call log): the first answer of a group waits at most ``SOA_COMMIT_WINDOW_MS`` for others, while the freed
    slots already take new calls; a second step is never sent before the answer that led to it is committed. So an
    interrupted batch keeps every answer it got but those of the last few milliseconds, whose records stay
    *pendente* and are checked at SOA before any resend. ``before_submit(keys)`` is called (and must commit)
    before the calls of a group of keys may start; ``stop()`` is checked before each new call.
    Return the keys never started (after a stop).
    """
    window = max(0.0, float(current_app.config.get("SOA_COMMIT_WINDOW_MS", 20.0))) / 1000
    queue = deque(tasks)
    marked: set = set()
    in_flight: dict = {}
    never_started: list = []
    first_uncommitted: float | None = None

    def commit() -> None:
        nonlocal first_uncommitted
        if write is not None:
            write()
        calls.flush()
        db.session.commit()
        first_uncommitted = None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                if stop is not None and stop():  # the calls in flight still finish and are recorded below
                    never_started.extend(key for key, _ in queue if key not in in_flight.values())
                    queue.clear()
                    break
                key, call = queue.popleft()
                if before_submit is not None and key not in marked:
                    if first_uncommitted is not None:
                        commit()  # before_submit commits too: the answers' rows go first
                    group = [key] + [k for k, _ in list(queue)[:workers - 1] if k not in marked]
                    before_submit(group)
                    marked.update(group)
                in_flight[pool.submit(_guarded, call)] = key
            if not in_flight:
                if first_uncommitted is not None:
                    commit()
                continue
            timeout = None if first_uncommitted is None else max(0.0, first_uncommitted + window - time.monotonic())
            done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            second_step = False
            for future in done:
                key = in_flight.pop(future)
                follow_up = apply(key, future.result())
                if follow_up is not None and not never_started:
                    queue.appendleft((key, follow_up))
                    second_step = True
            if done and first_uncommitted is None:
                first_uncommitted = time.monotonic()
            if first_uncommitted is not None and (
                    second_step or not in_flight or time.monotonic() - first_uncommitted >= window):
                commit()
    return never_started


def _guarded(call):
    try:
        return call()
    except SerasaError as exc:
        return exc


def include_debts(agency: Agency, debts: list[Debt], user_id: int | None, restriction_code: str,
                  *, stop=None) -> BulkReport:
    """Negativate debts: check each, claim pending records (one commit), then call SOA concurrently.

    Durable as it goes: every SOA answer (protocol or refusal) and its call log are committed as they arrive
    (within ``SOA_COMMIT_WINDOW_MS``), so an interrupted batch leaves only the records whose call was in flight (or
    answered in that window) as *pendente* (reconciled by a consult, as *incerta* ones are, by ``sync_records``).
    """
    report = BulkReport()
    calls = CallLog(agency.id, user_id)
    try:
        client = make_client(agency, calls, inclusion=True)
    except NegativationNotAllowed as exc:
        report.outcomes = [DebtOutcome(d, "recusada", str(exc)) for d in debts]
        return report
    with keep_loaded(), client:
        claimed, refused = claim_batch(agency, debts, user_id, restriction_code)
        report.outcomes.extend(refused)
        db.session.commit()  # the pending records exist before anything reaches SOA
        if claimed:
            report.outcomes.extend(send_claimed(agency, client, claimed, user_id, calls, stop=stop))
    order = {debt.id: i for i, debt in enumerate(debts)}
    report.outcomes.sort(key=lambda o: order[o.debt.id])  # the user's order, not the processing order
    return report


def send_claimed(agency: Agency, client: SerasaClient, claimed: list[tuple[Debt, Negativation]],
                 user_id: int | None, calls: CallLog, *, on_outcome=None, before_submit=None, stop=None
                 ) -> list[DebtOutcome]:
    """Check the balance, then send the claimed (pendente) records to SOA, committing each answer as it comes.

    ``on_outcome(outcome)`` is called (in this thread, before the commit) for each outcome; records not sent
    because of ``stop`` go back to *Erro* (never sent: safe to resend).
    """
    outcomes: list[DebtOutcome] = []

    def report(outcome: DebtOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    affordable = _affordable(client, agency, len(claimed), calls)
    if isinstance(affordable, str):  # the balance check itself failed: nothing was sent
        for debt, record in claimed:
            record.move(S.ERROR, actor_id=user_id, message=affordable)
            report(DebtOutcome(debt, "falhou", affordable, record))
        calls.flush()
        db.session.commit()
        return outcomes
    to_send, unaffordable = claimed[:affordable], claimed[affordable:]
    for debt, record in unaffordable:
        reason = "Saldo insuficiente no SOA WebServices para esta inclusão; compre créditos e tente de novo."
        record.move(S.ERROR, actor_id=user_id, message=reason)
        report(DebtOutcome(debt, "falhou", reason, record))
    calls.flush()
    db.session.commit()

    by_key = {record.id: (debt, record) for debt, record in to_send}
    batch = Transitions()  # each burst of answers: one UPDATE and one INSERT, written before pump commits

    def apply(key, result):
        error = result if isinstance(result, SerasaError) else None
        report(_apply_inclusion(*by_key[key], None if error is not None else result, error, user_id, batch))

    tasks = [(record.id, partial(client.include, _request_for(record))) for _, record in to_send]
    workers = min(max(1, int(current_app.config.get("SOA_MAX_CONCURRENCY", 32))), len(tasks) or 1)
    unsent = pump(tasks, apply, workers=workers, calls=calls, before_submit=before_submit, stop=stop,
                  write=batch.write)
    for key in unsent:
        debt, record = by_key[key]
        record.move(S.ERROR, actor_id=user_id, message="Envio cancelado antes de chegar ao SOA; pode ser reenviada.")
        report(DebtOutcome(debt, "cancelada", "Envio cancelado antes de chegar ao SOA.", record))
    db.session.commit()
    return outcomes


@dataclass
class PreviewRow:
    debt: Debt
    #: "ok" (will be sent) | "retry" (a record in Erro, sent again) | "problems" (will be refused, with reasons)
    #: | "in_flight" (already has a record in flight or active: not selectable) | "no_balance" (does not fit)
    state: str
    problems: list[str] = field(default_factory=list)
    record: Negativation | None = None

    @property
    def selectable(self) -> bool:
        return self.state in ("ok", "retry", "problems")


@dataclass
class InclusionPreview:
    rows: list[PreviewRow]
    cost: Decimal
    balance: Decimal | None = None
    balance_error: str | None = None

    @property
    def to_send(self) -> int:
        return sum(1 for r in self.rows if r.state in ("ok", "retry"))

    @property
    def total(self) -> Decimal:
        return self.cost * self.to_send

    def count(self, state: str) -> int:
        return sum(1 for r in self.rows if r.state == state)


def preview_inclusion(agency: Agency, debts: list[Debt], user_id: int | None) -> InclusionPreview:
    """Tell, before anything is sent, what each debt will become, what it costs and what the balance pays for.

    One fresh balance call to SOA; debts with a record in flight or active are shown with it and not sent;
    when the plan is prepaid (``SOA_INCLUSION_COST``), the debts past what the balance pays for are not sent.
    """
    today = local_today(agency.timezone)
    latest = latest_by_debt(d.id for d in debts)
    rows = []
    for debt in debts:
        record = latest.get(debt.id)
        if record is not None and record.is_open and record.status != S.ERROR:
            rows.append(PreviewRow(debt, "in_flight", record=record))
            continue
        problems = eligibility_problems(debt, today)
        if problems:
            rows.append(PreviewRow(debt, "problems", problems))
        else:
            rows.append(PreviewRow(debt, "retry" if record is not None and record.status == S.ERROR else "ok",
                                   record=record))
    preview = InclusionPreview(rows, Decimal(str(current_app.config.get("SOA_INCLUSION_COST", "0") or "0")))
    if not preview.to_send:
        return preview
    calls = CallLog(agency.id, user_id)
    try:
        preview.balance = make_client(agency, calls, inclusion=True).balance()
        agency.soa_balance, agency.soa_balance_checked_at = preview.balance, utcnow()
    except (SerasaError, NegativationNotAllowed) as exc:
        preview.balance_error = str(exc)
    finally:
        calls.flush()
    if preview.balance is not None and preview.cost > 0:
        affordable = int(preview.balance // preview.cost)
        for row in [r for r in rows if r.state in ("ok", "retry")][affordable:]:
            row.state = "no_balance"
    return preview


def records_of(ids) -> dict[int, Negativation]:
    """Load negativations by id (one query), skipping empty ids."""
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return {r.id: r for r in db.session.scalars(select(Negativation).where(Negativation.id.in_(wanted)))}


def _sentence(text: str) -> str:
    """Upper-case the first letter and end with a full stop (unlike str.capitalize, keep the rest)."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _affordable(client: SerasaClient, agency: Agency, wanted: int, calls: CallLog) -> int | str:
    """Check the prepaid balance first; return how many inclusions it pays for, or why it could not tell."""
    cost = Decimal(str(current_app.config.get("SOA_INCLUSION_COST", "0") or "0"))
    try:
        balance = client.balance()
    except SerasaError as exc:
        return f"Não foi possível consultar o saldo antes de enviar: {exc}"
    agency.soa_balance, agency.soa_balance_checked_at = balance, utcnow()
    if cost <= 0:
        return wanted
    return min(wanted, int(balance // cost))


def _apply_inclusion(debt, record, unique_id, error, user_id, batch: Transitions) -> DebtOutcome:
    if error is None:
        batch.move(record, S.SENT, actor_id=user_id, message="SOA aceitou a inclusão; aguardando o Serasa.",
                   unique_id=unique_id, sent_at=utcnow())
        return DebtOutcome(debt, "incluida", f"Protocolo {unique_id}", record)
    if isinstance(error, SerasaRefused):
        batch.move(record, S.REJECTED, actor_id=user_id, message=error.message, code=error.code)
        return DebtOutcome(debt, "recusada", error.message, record)
    if error.outcome_unknown:
        batch.move(record, S.UNCERTAIN, actor_id=user_id,
                   message=error.message + " A inclusão não será reenviada automaticamente: use Atualizar "
                                           "situação para conferir no SOA.")
        return DebtOutcome(debt, "falhou", error.message, record)
    batch.move(record, S.ERROR, actor_id=user_id, message=error.message)
    return DebtOutcome(debt, "falhou", error.message, record)


# --- status sync -----------------------------------------------------------------------------------------

BUREAU_TO_STATE = {"Ativa": S.ACTIVE, "Erro": S.REJECTED, "Baixada": S.EXCLUDED}


#: A *pendente* record this old whose job is over (or that no job holds) belongs to a process that died during
#: its call: it is reconciled by a consult, like an *incerta* one.
PENDING_ABANDONED_AFTER = timedelta(minutes=10)


def sync_records(agency: Agency, records: list[Negativation], user_id: int | None, *, on_result=None,
                 stop=None) -> dict[str, int]:
    """Ask SOA about records in flight (enviada, incerta, abandoned pendente, baixa solicitada) and retry due
    exclusions, with the same bounded concurrency as inclusions; each answer is committed as it arrives.

    ``on_result(record, result)`` (result: "atualizada" | "sem_mudanca" | "falhou") is called for each record.
    """
    calls = CallLog(agency.id, user_id)
    summary = {"atualizadas": 0, "sem_mudanca": 0, "falhas": 0}

    def done(record, result: str) -> None:
        summary[{"atualizada": "atualizadas", "sem_mudanca": "sem_mudanca", "falhou": "falhas"}[result]] += 1
        if on_result is not None:
            on_result(record, result)

    try:
        client = make_client(agency, calls)
    except NegativationNotAllowed:
        for record in records:
            done(record, "falhou")
        return summary
    with keep_loaded(), client:
        by_id = {r.id: r for r in records}
        before = {r.id: r.status for r in records}
        tasks = []
        for record in records:
            if record.status == S.PENDING:
                record.move(S.UNCERTAIN, actor_id=user_id, message="Envio interrompido antes da resposta do SOA: "
                                                                   "conferindo no SOA antes de qualquer reenvio.")
            step = _first_step(client, record, user_id)
            if step is None:
                _finish_sync(record, before[record.id], done)
            else:
                tasks.append((record.id, step))
        db.session.commit()

        def apply(key, result):
            record = by_id[key]
            if isinstance(result, SerasaError):
                if record.exclusion_claimed_at is not None and record.status in EXCLUDABLE_STATES:
                    record.exclusion_claimed_at = None  # nothing was excluded: the next attempt may go
                    record.exclusion_error = result.message
                    record.note(f"Pedido de baixa falhou: {result.message}", actor_id=user_id)
                record.note(f"Falha ao consultar o SOA: {result.message}", actor_id=user_id)
                done(record, "falhou")
                return None
            kind, value = result
            if kind == "consult":
                _apply_consult(record, value, user_id)
            elif kind == "list":
                _apply_reconcile(record, value, user_id)
            elif kind == "exclude":
                _apply_exclusion(record, user_id)
                _finish_sync(record, before[key], done)
                return None
            step = _exclusion_step(client, record, user_id)
            if step is None:
                _finish_sync(record, before[key], done)
            return step

        workers = min(max(1, int(current_app.config.get("SOA_MAX_CONCURRENCY", 32))), len(tasks) or 1)
        pump(tasks, apply, workers=workers, calls=calls, stop=stop)
    calls.flush()
    return summary


def _finish_sync(record, before, done) -> None:
    record.last_checked_at = utcnow()
    done(record, "atualizada" if record.status != before else "sem_mudanca")


def _first_step(client: SerasaClient, record: Negativation, user_id):
    """The first SOA call a record needs (None: none), as a callable for a worker thread."""
    if record.status == S.UNCERTAIN:
        document, contract = record.document, record.contract_number
        return lambda: ("list", client.list(document=document, contract=contract))
    if record.status in SYNC_STATES and record.unique_id:
        unique_id = record.unique_id
        return lambda: ("consult", client.consult(unique_id))
    return _exclusion_step(client, record, user_id)


def _exclusion_step(client: SerasaClient, record: Negativation, user_id):
    """Claim a due exclusion (committed before the call) and return its SOA call; None when not due or taken."""
    if not record.exclusion_due or not record.unique_id:
        return None
    if not claim_exclusion(record):
        return None
    record.exclusion_code = record.exclusion_code or EXCLUSION_CODE_BY_MOTIVE[ExclusionMotive(record.exclusion_motive)]
    db.session.commit()
    unique_id, code, description = record.unique_id, record.exclusion_code, _exclusion_description(record)
    return lambda: ("exclude", client.exclude(unique_id, code, description))


def _exclusion_description(record: Negativation) -> str:
    return MOTIVE_LABELS[ExclusionMotive(record.exclusion_motive)] + (
        f": {record.exclusion_note}" if record.exclusion_note else "")


def _apply_exclusion(record: Negativation, user_id) -> None:
    record.exclusion_error = None
    record.exclusion_requested_at = utcnow()
    record.move(S.EXCLUSION_REQUESTED, actor_id=user_id, code=record.exclusion_code,
                message=f"Baixa solicitada ao SOA ({_exclusion_description(record)}; código {record.exclusion_code}).")


def _consult(client: SerasaClient, record: Negativation, user_id: int | None) -> None:
    _apply_consult(record, client.consult(record.unique_id), user_id)


def _apply_consult(record: Negativation, answer, user_id: int | None) -> None:
    target = BUREAU_TO_STATE.get(str(answer.status))
    if target is None or target == record.status:
        return
    if target == S.EXCLUDED:
        record.excluded_at = utcnow()
    if target == S.ACTIVE and record.status == S.EXCLUSION_REQUESTED:
        return  # the bureau has not processed the baixa yet
    record.move(target, actor_id=user_id, message=answer.message or f"Serasa: {answer.status}")


def _reconcile(client: SerasaClient, record: Negativation, user_id: int | None) -> None:
    """Find an inclusion of unknown outcome at SOA by document and contract, before anything else."""
    _apply_reconcile(record, client.list(document=record.document, contract=record.contract_number), user_id)


def _apply_reconcile(record: Negativation, found, user_id: int | None) -> None:
    if not found:
        record.move(S.ERROR, actor_id=user_id,
                    message="Conferido no SOA: a inclusão não chegou. Pode ser reenviada com segurança.")
        return
    match = found[0]
    record.unique_id = str(match.get("UniqueID") or record.unique_id or "")
    record.sent_at = record.sent_at or utcnow()
    target = BUREAU_TO_STATE.get(str(match.get("Situacao") or ""), S.SENT)
    record.move(target if target != S.EXCLUDED else S.EXCLUDED, actor_id=user_id,
                message="Conferido no SOA: a inclusão existe (protocolo recuperado).")


# --- exclusion ---------------------------------------------------------------------------------------------

#: States from which an exclusion may be requested.
EXCLUDABLE_STATES = (S.ACTIVE, S.SENT, S.UNCERTAIN)
#: A claim this old belongs to a request that died during its call (SOA's read timeout is 20 s): take it over.
EXCLUSION_CLAIM_EXPIRES = timedelta(minutes=10)
class ExclusionAlreadyRequested(NegativationNotAllowed):
    """Another request has taken (or finished) this record's exclusion; nothing was sent."""


ALREADY_REQUESTED = ("A baixa desta negativação já foi solicitada ao SOA (ou está sendo solicitada agora por outra "
                     "pessoa). Nada foi enviado de novo.")


def claim_exclusion(record: Negativation) -> bool:
    """Take the record's exclusion with one conditional UPDATE; False when another request already holds it.

    The database decides (row lock on PostgreSQL, the write lock on SQLite): of simultaneous requests exactly one
    UPDATE changes the row, so exactly one of them calls SOA.
    """
    now = utcnow()
    result = db.session.execute(
        update(Negativation)
        .where(Negativation.id == record.id, Negativation.status.in_(EXCLUDABLE_STATES),
               or_(Negativation.exclusion_claimed_at.is_(None),
                   Negativation.exclusion_claimed_at < now - EXCLUSION_CLAIM_EXPIRES))
        .values(exclusion_claimed_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    set_committed_value(record, "exclusion_claimed_at", now)
    return True


def request_exclusion(client: SerasaClient, record: Negativation, motive: str, *, user_id: int | None,
                      code: str | None = None, note: str | None = None, claimed: bool = False) -> bool:
    """Ask SOA to remove the record; on failure keep it due (retryable) and visible.

    Return False (and call nothing) when another request holds the exclusion; ``claimed`` says the caller has
    already taken it (``claim_exclusion``).
    """
    if record.status not in EXCLUDABLE_STATES:
        if record.status == S.EXCLUSION_REQUESTED:
            raise ExclusionAlreadyRequested(ALREADY_REQUESTED)
        raise NegativationNotAllowed("Só negativações ativas (ou enviadas) podem ser excluídas.")
    if not record.unique_id:
        raise NegativationNotAllowed("A negativação não tem protocolo do SOA; atualize a situação primeiro.")
    if not claimed and not claim_exclusion(record):
        return False
    record.exclusion_motive = motive
    record.exclusion_code = code or EXCLUSION_CODE_BY_MOTIVE[ExclusionMotive(motive)]
    if note and note.strip():
        record.exclusion_note = note.strip()[:200]
    description = MOTIVE_LABELS[ExclusionMotive(motive)] + (f": {record.exclusion_note}" if record.exclusion_note
                                                             else "")
    try:
        client.exclude(record.unique_id, record.exclusion_code, description)
    except SerasaError as exc:
        record.exclusion_claimed_at = None  # nothing was excluded: the next attempt may go
        record.exclusion_error = exc.message
        record.note(f"Pedido de baixa falhou: {exc.message}", actor_id=user_id)
        raise
    record.exclusion_error = None
    record.exclusion_requested_at = utcnow()
    record.move(S.EXCLUSION_REQUESTED, actor_id=user_id, code=record.exclusion_code,
                message=f"Baixa solicitada ao SOA ({description}; código {record.exclusion_code}).")
    return True


def exclude_manually(agency: Agency, record: Negativation, motive: str, code: str | None, note: str | None,
                     user_id: int) -> None:
    """Handle an admin's Excluir negativação; raises SerasaError / NegativationNotAllowed for the flash.

    The motive decides the SOA code (an inconsistent one is refused). The claim is committed before SOA is called,
    so a simultaneous submit (another tab, another admin) finds it taken and calls nothing.
    """
    code = check_exclusion_request(motive, code, note)
    if record.status == S.EXCLUSION_REQUESTED:
        raise ExclusionAlreadyRequested(ALREADY_REQUESTED)
    calls = CallLog(agency.id, user_id)
    try:
        client = make_client(agency, calls)
        if record.status not in EXCLUDABLE_STATES or not record.unique_id:
            request_exclusion(client, record, motive, user_id=user_id)  # raises the reason
        if not claim_exclusion(record):
            raise ExclusionAlreadyRequested(ALREADY_REQUESTED)
        db.session.commit()
        request_exclusion(client, record, motive, user_id=user_id, code=code, note=note, claimed=True)
    finally:
        calls.flush()


def on_debt_settled(agency: Agency, debt: Debt, motive: str, paid_on: date, user_id: int | None,
                    recorded_on: date | None = None) -> str | None:
    """Request the exclusion of the debt's record at once when it is paid or settled; return a pt-BR notice.

    The legal deadline counts from ``paid_on`` (the payment or agreement date the user typed); ``recorded_on``
    (default: the agency's today) is when the panel learned of it, and a registration after the deadline is
    flagged as late.
    """
    record = db.session.scalar(select(Negativation).where(Negativation.debt_id == debt.id,
                                                         Negativation.status.in_(OPEN_STATES)))
    if record is None:
        return None
    record.mark_paid(paid_on, motive, recorded_on or local_today(agency.timezone))
    notice = _settle_record(agency, record, motive, user_id)
    if notice and record.registered_late:
        notice = (f"Pagamento registrado com atraso: o prazo legal de baixa venceu em "
                  f"{record.removal_deadline:%d/%m/%Y}. ") + notice
    return notice


def _settle_record(agency: Agency, record: Negativation, motive: str, user_id: int | None) -> str | None:
    if record.status == S.ERROR:  # never reached the bureau: close it
        record.move(S.EXCLUDED, actor_id=user_id, message="Dívida quitada antes da inclusão: envio cancelado.")
        return None
    if record.status == S.EXCLUSION_REQUESTED:
        return None
    if record.status == S.PENDING or (record.status == S.UNCERTAIN and not record.unique_id):
        return (f"A negativação nº {record.id} ainda está sendo conferida no SOA; a baixa será pedida assim que "
                f"houver protocolo (Atualizar situação). Prazo legal: {record.removal_deadline:%d/%m/%Y}.")
    calls = CallLog(agency.id, user_id)
    try:
        if not request_exclusion(make_client(agency, calls), record, motive, user_id=user_id):
            return (f"A baixa da negativação nº {record.id} já está sendo solicitada ao SOA. Prazo legal: "
                    f"{record.removal_deadline:%d/%m/%Y}.")
    except (SerasaError, NegativationNotAllowed) as exc:
        record.exclusion_error = record.exclusion_error or str(exc)
        return (f"A baixa da negativação nº {record.id} não foi aceita agora ({exc}). Ela fica pendente e será "
                f"tentada de novo; prazo legal: {record.removal_deadline:%d/%m/%Y}.")
    finally:
        calls.flush()
    return (f"Baixa da negativação nº {record.id} solicitada ao SOA. Prazo legal: "
            f"{record.removal_deadline:%d/%m/%Y}.")


def abandoned_pending():
    """SQL condition: a *pendente* record left by a process that died during its SOA call (no live job holds it,
    untouched for PENDING_ABANDONED_AFTER)."""
    from models.job import ACTIVE_STATES, Job, JobItem

    held = (select(JobItem.id).join(Job, Job.id == JobItem.job_id)
            .where(JobItem.ref_id == Negativation.id, Job.kind == "serasa.include",
                   Job.state.in_([str(s) for s in ACTIVE_STATES])).exists())
    return ((Negativation.status == S.PENDING) & (Negativation.updated_at < utcnow() - PENDING_ABANDONED_AFTER)
            & ~held)


def needs_sync(agency: Agency) -> bool:
    """Tell (one indexed probe, nothing changed) whether any record of the agency needs SOA now."""
    today = local_today(agency.timezone)
    expiring = (Negativation.expires_on <= today) & Negativation.status.in_((S.ACTIVE, S.SENT)) \
        & Negativation.exclusion_motive.is_(None)
    due = (Negativation.exclusion_motive.is_not(None) & Negativation.status.in_((S.ACTIVE, S.SENT, S.UNCERTAIN)))
    return db.session.scalar(select(Negativation.id).where(
        Negativation.agency_id == agency.id,
        Negativation.status.in_(SYNC_STATES) | due | expiring | abandoned_pending()).limit(1)) is not None


def records_to_sync(agency: Agency, limit: int) -> list[Negativation]:
    """Pick the agency's records that need SOA (in flight, uncertain, exclusion due), marking expired ones."""
    today = local_today(agency.timezone)
    for record in db.session.scalars(select(Negativation).where(
            Negativation.agency_id == agency.id, Negativation.expires_on <= today,
            Negativation.status.in_((S.ACTIVE, S.SENT)), Negativation.exclusion_motive.is_(None))):
        record.exclusion_motive = ExclusionMotive.EXPIRY
        record.note("Prazo de 5 anos atingido: baixa obrigatória (CDC art. 43 §1º).", actor_id=None)
    due = (Negativation.exclusion_motive.is_not(None) & Negativation.status.in_((S.ACTIVE, S.SENT, S.UNCERTAIN)))
    return list(db.session.scalars(
        select(Negativation).where(Negativation.agency_id == agency.id,
                                   Negativation.status.in_(SYNC_STATES) | due | abandoned_pending())
        .order_by(Negativation.last_checked_at.is_not(None), Negativation.last_checked_at).limit(limit)))
