"""Negativation workflows: include debts (bulk, concurrent), sync status, exclude (manual and automatic).

Functions take model objects, talk to SOA through ``integrations.serasa`` and leave committing to the caller,
except where a step must be durable before the next call to SOA (the pending record before an inclusion).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

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
    import time

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
    """Insert the pending record in its own savepoint; the unique index refuses a second open one."""
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


def include_debts(agency: Agency, debts: list[Debt], user_id: int | None, restriction_code: str) -> BulkReport:
    """Negativate debts: check each, claim a pending record (committed), then call SOA concurrently."""
    report = BulkReport()
    calls = CallLog(agency.id, user_id)
    try:
        client = make_client(agency, calls, inclusion=True)
    except NegativationNotAllowed as exc:
        report.outcomes = [DebtOutcome(d, "recusada", str(exc)) for d in debts]
        return report
    today = local_today(agency.timezone)
    claimed: list[tuple[Debt, Negativation]] = []
    for debt in debts:
        problems = eligibility_problems(debt, today)
        if problems:
            report.outcomes.append(DebtOutcome(debt, "recusada", _sentence("; ".join(problems))))
            continue
        record = _claim(debt, user_id, restriction_code)
        if isinstance(record, str):
            report.outcomes.append(DebtOutcome(debt, "recusada", _sentence(record)))
        else:
            claimed.append((debt, record))
    db.session.commit()  # the pending records exist before anything reaches SOA
    if not claimed:
        return report

    affordable = _affordable(client, agency, len(claimed), calls)
    if isinstance(affordable, str):  # the balance check itself failed: nothing was sent
        for debt, record in claimed:
            record.move(S.ERROR, actor_id=user_id, message=affordable)
            report.outcomes.append(DebtOutcome(debt, "falhou", affordable, record))
        calls.flush()
        db.session.commit()
        return report
    to_send, unaffordable = claimed[:affordable], claimed[affordable:]
    for debt, record in unaffordable:
        reason = "Saldo insuficiente no SOA WebServices para esta inclusão; compre créditos e tente de novo."
        record.move(S.ERROR, actor_id=user_id, message=reason)
        report.outcomes.append(DebtOutcome(debt, "falhou", reason, record))

    requests_ = [(record, _request_for(record)) for _, record in to_send]
    workers = max(1, int(current_app.config.get("SOA_MAX_CONCURRENCY", 32)))
    with ThreadPoolExecutor(max_workers=min(workers, len(requests_))) as pool:
        results = list(pool.map(lambda item: _send_one(client, item[1]), requests_))
    for (debt, record), (unique_id, error) in zip(to_send, results, strict=True):
        report.outcomes.append(_apply_inclusion(debt, record, unique_id, error, user_id))
    calls.flush()
    db.session.commit()
    order = {debt.id: i for i, debt in enumerate(debts)}
    report.outcomes.sort(key=lambda o: order[o.debt.id])  # the user's order, not the processing order
    return report


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


def _send_one(client: SerasaClient, request: InclusionRequest) -> tuple[str | None, SerasaError | None]:
    """Run in a worker thread: no database access here."""
    try:
        return client.include(request), None
    except SerasaError as exc:
        return None, exc


def _apply_inclusion(debt, record, unique_id, error, user_id) -> DebtOutcome:
    if error is None:
        record.unique_id, record.sent_at = unique_id, utcnow()
        record.move(S.SENT, actor_id=user_id, message="SOA aceitou a inclusão; aguardando o Serasa.")
        return DebtOutcome(debt, "incluida", f"Protocolo {unique_id}", record)
    if isinstance(error, SerasaRefused):
        record.move(S.REJECTED, actor_id=user_id, message=error.message, code=error.code)
        return DebtOutcome(debt, "recusada", error.message, record)
    if error.outcome_unknown:
        record.move(S.UNCERTAIN, actor_id=user_id,
                    message=error.message + " A inclusão não será reenviada automaticamente: use Atualizar "
                                            "situação para conferir no SOA.")
        return DebtOutcome(debt, "falhou", error.message, record)
    record.move(S.ERROR, actor_id=user_id, message=error.message)
    return DebtOutcome(debt, "falhou", error.message, record)


# --- status sync -----------------------------------------------------------------------------------------

BUREAU_TO_STATE = {"Ativa": S.ACTIVE, "Erro": S.REJECTED, "Baixada": S.EXCLUDED}


def sync_records(agency: Agency, records: list[Negativation], user_id: int | None) -> dict[str, int]:
    """Ask SOA about records in flight (enviada, incerta, baixa solicitada) and retry due exclusions."""
    calls = CallLog(agency.id, user_id)
    summary = {"atualizadas": 0, "sem_mudanca": 0, "falhas": 0}
    try:
        client = make_client(agency, calls)
    except NegativationNotAllowed:
        summary["falhas"] = len(records)
        return summary
    for record in records:
        before = record.status
        try:
            if record.status == S.UNCERTAIN:
                _reconcile(client, record, user_id)
            elif record.status in SYNC_STATES and record.unique_id:
                _consult(client, record, user_id)
            if record.exclusion_due:
                request_exclusion(client, record, record.exclusion_motive, user_id=user_id)
        except SerasaError as exc:
            summary["falhas"] += 1
            record.note(f"Falha ao consultar o SOA: {exc.message}", actor_id=user_id)
            continue
        record.last_checked_at = utcnow()
        summary["atualizadas" if record.status != before else "sem_mudanca"] += 1
    calls.flush()
    return summary


def _consult(client: SerasaClient, record: Negativation, user_id: int | None) -> None:
    answer = client.consult(record.unique_id)
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
    found = client.list(document=record.document, contract=record.contract_number)
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
                                   Negativation.status.in_(SYNC_STATES) | due)
        .order_by(Negativation.last_checked_at.is_not(None), Negativation.last_checked_at).limit(limit)))
