"""Portfolio import (importação de carteira): validate a creditor's file line by line, then upsert it.

- **Validation** (preview and import share it): each line is *valid*, *valid with warnings* (importable; e.g. an
  incomplete address makes the debtor not negativable) or *refused* (invalid CPF/CNPJ, unreadable amount or date
  in Brazilian formats, missing contract…), always with the file's line number and a pt-BR reason.
- **Upsert**: debtors by CPF/CNPJ within the agency, debts by (creditor, contract number). The same file twice
  creates nothing and changes nothing; a changed amount or due date is updated and audited; the creditor's debts
  that the file no longer lists are reported, never deleted. A debtor's data comes from the first line of their
  document in the file, and an empty cell never erases what the panel already has.
- Work goes in chunks, each committed, with progress and a cancel check between them (the job layer calls
  ``run_import``); re-running an interrupted import completes it without duplicates.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import insert, select

from models import AuditLog, Debt, Debtor, User, db
from models.agency import Capability, roles_with
from models.debt import DebtStatus
from models.debtor import FIELD_SIZES, UFS
from models.display import br_date, brl
from models.documents import format_cep, format_document, is_valid_document, only_digits
from models.portfolio_import import CreditorImportMapping, ImportProblem, ImportStatus, PortfolioImport, ProblemLevel
from models.timeutil import utcnow
from services import jobs
from services.portfolio_reader import FIELDS, UnreadableFile, guess_mapping, open_sheet

#: Lines per committed chunk of an import.
CHUNK = 1000
#: The largest amount a debt holds (NUMERIC(12, 2)).
MAX_AMOUNT = Decimal("9999999999.99")
CONTRACT_SIZE = 40
DEBTOR_FIELDS = ("name", "birth_date", "email", "phone", "street", "number", "complement", "neighbourhood", "city",
                 "uf", "cep")
ADDRESS_FIELDS = ("street", "number", "complement", "neighbourhood", "city", "uf", "cep")
TEXT_SIZES = FIELD_SIZES | {"phone": 20, "email": 254}
FIELD_LABELS = {name: label for name, (label, _) in FIELDS.items()}
ACTIVE = (DebtStatus.OPEN, DebtStatus.IN_AGREEMENT)


class RowRefused(ValueError):
    pass


# --- Brazilian amounts and dates ------------------------------------------------------------------------------

_THOUSANDS_DOTS = re.compile(r"\d{1,3}(\.\d{3})+")


def parse_amount(value) -> Decimal:
    """R$ 1.234,56 / 1234,56 / 1.234 (mil) / 1234.56 / a spreadsheet number → Decimal with 2 places."""
    if isinstance(value, bool):
        raise RowRefused("valor ilegível")
    if isinstance(value, float) and abs(value - round(value, 2)) < 1e-6:
        amount = Decimal(repr(round(value, 2)))  # a spreadsheet's binary float: 1234.5600000000002 is 1234,56
    elif isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    else:
        text = re.sub(r"\s", "", str(value or "")).replace("R$", "").replace("r$", "")
        if not text:
            raise RowRefused("valor não informado")
        if "," in text and "." in text:
            if text.rfind(",") > text.rfind("."):
                text = text.replace(".", "").replace(",", ".")
            else:
                text = text.replace(",", "")
        elif "," in text:
            if text.count(",") > 1:
                raise RowRefused(f"valor ilegível: {value}")
            text = text.replace(",", ".")
        elif _THOUSANDS_DOTS.fullmatch(text.lstrip("-")):
            text = text.replace(".", "")
        if not re.fullmatch(r"-?\d+(\.\d+)?", text):
            raise RowRefused(f"valor ilegível: {value}")
        amount = Decimal(text)
    if amount != amount.quantize(Decimal("0.01")):
        raise RowRefused(f"valor com mais de 2 casas decimais: {value}")
    if amount <= 0:
        raise RowRefused("valor deve ser maior que zero")
    if amount > MAX_AMOUNT:
        raise RowRefused("valor acima do máximo (R$ 9.999.999.999,99)")
    return amount.quantize(Decimal("0.01"))


_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y", "%Y-%m-%d %H:%M:%S",
                 "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


_BR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def parse_date(value, what: str = "vencimento") -> date:
    """31/12/2025, 31-12-2025, 31.12.2025, 2025-12-31, 31/12/25 or a spreadsheet date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        raise RowRefused(f"{what} não informado")
    found = _BR_DATE.fullmatch(text)
    if found:  # the usual dd/mm/aaaa, without strptime's cost
        day, month, year = (int(g) for g in found.groups())
        try:
            parsed = date(year, month, day)
        except ValueError:
            raise RowRefused(f"{what} ilegível: {text} (use dd/mm/aaaa)") from None
        if 1900 <= parsed.year <= 2100:
            return parsed
        raise RowRefused(f"{what} ilegível: {text} (use dd/mm/aaaa)")
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if not 1900 <= parsed.year <= 2100:
            break
        return parsed
    raise RowRefused(f"{what} ilegível: {text} (use dd/mm/aaaa)")


def parse_document(value) -> str:
    """The CPF/CNPJ's digits; a spreadsheet number lost its leading zeros, so they are put back."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        digits = str(int(value))
        digits = digits.zfill(11) if len(digits) <= 11 else digits.zfill(14)
    else:
        digits = only_digits(str(value or ""))
    if not digits:
        raise RowRefused("CPF/CNPJ não informado")
    if not is_valid_document(digits):
        raise RowRefused(f"CPF/CNPJ inválido: {str(value).strip()}")
    return digits


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        return br_date(value.date())
    if isinstance(value, date):
        return br_date(value)
    return " ".join(str(value).split())


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()


# --- one line -------------------------------------------------------------------------------------------------


@dataclass
class Line:
    number: int
    cells: list
    values: dict = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    consultant_id: int | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.refused or self.warnings)


class Validator:
    """Turns a line's cells into the values the panel stores, or the reasons it cannot."""

    def __init__(self, mapping: dict[str, int], consultants: dict[str, int] | None = None):
        self.mapping = {k: int(v) for k, v in mapping.items() if v is not None and v != ""}
        self.consultants = consultants or {}

    def cell(self, cells: list, name: str):
        index = self.mapping.get(name)
        if index is None or index >= len(cells):
            return None
        return cells[index]

    def line(self, number: int, cells: list) -> Line:
        line = Line(number, cells)
        values = line.values
        for name, parse in (("document", parse_document), ("amount", parse_amount),
                            ("due_date", parse_date)):
            try:
                values[name] = parse(self.cell(cells, name))
            except RowRefused as exc:
                line.refused.append(str(exc))
        contract = _cell_text(self.cell(cells, "contract"))
        if not contract:
            line.refused.append("contrato não informado")
        elif len(contract) > CONTRACT_SIZE:
            line.refused.append(f"contrato passa de {CONTRACT_SIZE} caracteres")
        values["contract"] = contract
        name = _cell_text(self.cell(cells, "name"))
        if not name:
            line.refused.append("nome não informado")
        elif len(name) > FIELD_SIZES["name"]:
            line.refused.append(f"nome passa de {FIELD_SIZES['name']} caracteres")
        values["name"] = name
        self._optional(cells, line)
        return line

    def _optional(self, cells: list, line: Line) -> None:
        values = line.values
        for name in ("street", "number", "complement", "neighbourhood", "city", "phone"):
            text = _cell_text(self.cell(cells, name))
            if len(text) > TEXT_SIZES[name]:
                line.warnings.append(f"{FIELD_LABELS[name].lower()} passa de {TEXT_SIZES[name]} caracteres "
                                     "(não importado)")
                text = ""
            values[name] = text or None
        uf = _cell_text(self.cell(cells, "uf")).upper()
        if uf and uf not in UFS:
            line.warnings.append(f"UF inválida: {uf} (não importada)")
            uf = ""
        values["uf"] = uf or None
        cep = only_digits(_cell_text(self.cell(cells, "cep")))
        if isinstance(self.cell(cells, "cep"), int | float) and cep:
            cep = cep.zfill(8)
        if cep and len(cep) != 8:
            line.warnings.append("CEP deve ter 8 dígitos (não importado)")
            cep = ""
        values["cep"] = cep or None
        email = _cell_text(self.cell(cells, "email"))
        if email:
            try:
                email = _normal_email(email)
            except EmailNotValidError:
                line.warnings.append(f"e-mail inválido: {email} (não importado)")
                email = ""
        values["email"] = email or None
        birth = self.cell(cells, "birth_date")
        values["birth_date"] = None
        if _cell_text(birth):
            try:
                values["birth_date"] = parse_date(birth, "nascimento")
            except RowRefused as exc:
                line.warnings.append(f"{exc} (não importado)")
        consultant = _cell_text(self.cell(cells, "consultant"))
        if consultant:
            line.consultant_id = self.consultants.get(_norm(consultant))
            if line.consultant_id is None:
                line.warnings.append(f"consultor não encontrado: {consultant} (sem consultor)")
        if not line.refused:
            problems = Debtor.address_problems(SimpleNamespace(**{k: values.get(k) for k in ADDRESS_FIELDS}))
            if problems:
                line.warnings.append("endereço incompleto (" + ", ".join(problems) +
                                     "): importável, mas não negativável")


_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _normal_email(email: str) -> str:
    """The address as email-validator normalises it; plain ASCII addresses (nearly all) skip its full check."""
    if _PLAIN_EMAIL.fullmatch(email) and ".." not in email and not email.startswith(".") \
            and ".@" not in email and len(email) <= 254:
        local, _, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"
    return validate_email(email, check_deliverability=False).normalized


def consultant_lookup(agency_id: int) -> dict[str, int]:
    """Active consultants of the agency by e-mail and by name (accents and case ignored)."""
    found = {}
    for user in db.session.scalars(select(User).where(User.agency_id == agency_id,
                                                      User.role.in_(roles_with(Capability.HOLD_PORTFOLIO)),
                                                      User.active.is_(True))):
        found[_norm(user.email)] = user.id
        found.setdefault(_norm(user.name), user.id)
    return found


# --- preview --------------------------------------------------------------------------------------------------


@dataclass
class Preview:
    description: str
    total: int = 0
    valid: int = 0
    warned: int = 0
    refused: int = 0
    sample: list[Line] = field(default_factory=list)
    problems: list[Line] = field(default_factory=list)
    problems_total: int = 0


PREVIEW_ROWS = 10
PREVIEW_PROBLEMS = 200


def import_dir() -> Path:
    """Where uploaded carteiras are kept (``IMPORT_DIR``, default ``instance/imports``): files, not database rows."""
    return Path(current_app.config.get("IMPORT_DIR") or Path(current_app.instance_path) / "imports")


def stored_path(stored_name: str) -> Path:
    return import_dir() / Path(stored_name).name


def preview(imp: PortfolioImport, progress: Callable[[int], None] | None = None) -> Preview:
    """Validate the whole file (nothing written): counts, the first lines as stored, and the problems."""
    sheet = open_sheet(stored_path(imp.stored_name))
    validator = Validator(imp.mapping, consultant_lookup(imp.agency_id))
    result = Preview(sheet.description)
    contracts: dict[str, int] = {}
    for number, cells in sheet.rows():
        if progress and result.total % CHUNK == 0:
            progress(result.total)
        line = validator.line(number, cells)
        _check_repeated(line, contracts)
        result.total += 1
        if line.refused:
            result.refused += 1
        elif line.warnings:
            result.warned += 1
        else:
            result.valid += 1
        if line.refused or line.warnings:
            result.problems_total += 1
            if len(result.problems) < PREVIEW_PROBLEMS:
                result.problems.append(line)
        if len(result.sample) < PREVIEW_ROWS:
            result.sample.append(line)
    return result


def _check_repeated(line: Line, contracts: dict[str, int]) -> None:
    contract = line.values.get("contract")
    if not contract:
        return
    first = contracts.setdefault(contract, line.number)
    if first != line.number:
        line.refused.append(f"contrato {contract} repetido no arquivo (já está na linha {first})")


# --- the import -----------------------------------------------------------------------------------------------


class Importer:
    def __init__(self, imp: PortfolioImport):
        self.imp = imp
        self.validator = Validator(imp.mapping, consultant_lookup(imp.agency_id))
        self.contracts: dict[str, int] = {}
        self.documents: set[str] = set()
        self.round_robin = [int(i) for i in imp.consultant_ids or []] if imp.consultant_mode == "rodizio" else []
        self.next_consultant = 0
        self.counts = dict.fromkeys(("created", "updated", "unchanged", "refused", "warnings", "debtors_created",
                                     "debtors_updated", "rows_done"), 0)
        self.problems: list[dict] = []
        self.audits: list[dict] = []

    def run(self, progress: Callable[[int, int], None] | None = None,
            should_cancel: Callable[[], bool] | None = None) -> None:
        sheet = open_sheet(stored_path(self.imp.stored_name))
        chunk: list[Line] = []
        for number, cells in sheet.rows():
            line = self.validator.line(number, cells)
            _check_repeated(line, self.contracts)
            chunk.append(line)
            if len(chunk) >= CHUNK:
                self._apply(chunk)
                chunk = []
                self._save_progress(progress)
                if should_cancel and should_cancel():
                    self.imp.status = ImportStatus.CANCELLED
                    self.imp.finished_at = utcnow()
                    db.session.commit()
                    return
        self._apply(chunk)
        self._report_missing()
        self.imp.status = ImportStatus.DONE
        self.imp.finished_at = utcnow()
        self.imp.rows_total = self.counts["rows_done"]
        self._save_progress(progress)
        AuditLog.record("import.done", agency_id=self.imp.agency_id, user_id=self.imp.user_id,
                        target=f"Importação de carteira nº {self.imp.id}",
                        details=f"credor={self.imp.creditor.name}; arquivo={self.imp.filename}; " +
                        "; ".join(f"{k}={getattr(self.imp, k)}" for k in
                                  ("created", "updated", "unchanged", "refused", "missing")))
        db.session.commit()

    def _save_progress(self, progress) -> None:
        for key, value in self.counts.items():
            setattr(self.imp, key, value)
        if self.problems:
            db.session.execute(insert(ImportProblem), self.problems)
            self.problems = []
        if self.audits:
            db.session.execute(insert(AuditLog), self.audits)
            self.audits = []
        db.session.commit()
        if progress:
            progress(self.imp.rows_done, max(self.imp.rows_total, self.imp.rows_done))

    def _problem(self, level: str, line: int, reason: str, cells: list) -> None:
        self.problems.append({"import_id": self.imp.id, "level": level, "line": line, "reason": reason,
                              "cells": cells})

    def _audit(self, action: str, target: str, details: str) -> None:
        self.audits.append({"agency_id": self.imp.agency_id, "user_id": self.imp.user_id, "action": action,
                            "target": target[:120], "details": details, "created_at": utcnow()})

    def _apply(self, lines: list[Line]) -> None:
        imp = self.imp
        good = [line for line in lines if not line.refused]
        documents = {line.values["document"] for line in good}
        contracts = {line.values["contract"] for line in good}
        debtors = {d.document: d for d in db.session.scalars(
            select(Debtor).where(Debtor.agency_id == imp.agency_id, Debtor.document.in_(documents)))} \
            if documents else {}
        debts = {d.contract_number: d for d in db.session.scalars(
            select(Debt).where(Debt.agency_id == imp.agency_id, Debt.creditor_id == imp.creditor_id,
                               Debt.contract_number.in_(contracts)))} if contracts else {}
        outcome: dict[int, str] = {}
        # Debtors: new ones inserted together; known ones updated from their first line in the file.
        new_debtors = []
        for line in good:
            values, document = line.values, line.values["document"]
            first = document not in self.documents
            self.documents.add(document)
            if document not in debtors:
                new_debtors.append(self._debtor_row(line))
                debtors[document] = None  # inserted below
                outcome[line.number] = "created"
            elif debtors[document] is not None and first and self._update_debtor(debtors[document], line):
                outcome[line.number] = "updated"
        ids = {document: debtor.id for document, debtor in debtors.items() if debtor is not None}
        if new_debtors:  # Core executemany with RETURNING: one round trip per batch, no ORM objects
            table = Debtor.__table__
            for debtor_id, document in db.session.execute(insert(table).returning(table.c.id, table.c.document),
                                                          new_debtors):
                ids[document] = debtor_id
            self.counts["debtors_created"] += len(new_debtors)
        new_debts = []
        for line in good:
            values = line.values
            debtor_id = ids[values["document"]]
            debt = debts.get(values["contract"])
            if debt is None:
                new_debts.append({"agency_id": imp.agency_id, "debtor_id": debtor_id, "creditor_id": imp.creditor_id,
                                  "contract_number": values["contract"], "amount": values["amount"],
                                  "due_date": values["due_date"], "status": DebtStatus.OPEN, "created_at": utcnow()})
                outcome[line.number] = "created"
            elif debt.debtor_id != debtor_id:
                line.refused.append(f"contrato {values['contract']} já está cadastrado para outro devedor deste credor")
            elif self._update_debt(debt, line):
                outcome.setdefault(line.number, "updated")
                if outcome[line.number] != "created":
                    outcome[line.number] = "updated"
        if new_debts:
            db.session.execute(insert(Debt.__table__), new_debts)
        db.session.flush()
        for line in lines:
            self.counts["rows_done"] += 1
            if line.refused:
                self.counts["refused"] += 1
                self._problem(ProblemLevel.REFUSED, line.number, "; ".join(line.refused),
                              [_cell_text(c) for c in line.cells])
                continue
            self.counts[outcome.get(line.number, "unchanged")] += 1
            if line.warnings:
                self.counts["warnings"] += 1
                self._problem(ProblemLevel.WARNING, line.number, "; ".join(line.warnings), [])

    def _debtor_row(self, line: Line) -> dict:
        row = {name: line.values.get(name) for name in DEBTOR_FIELDS}
        row.update(agency_id=self.imp.agency_id, document=line.values["document"], created_at=utcnow(),
                   consultant_id=self._consultant_for_new(line))
        return row

    def _consultant_for_new(self, line: Line) -> int | None:
        if self.imp.consultant_mode == "coluna":
            return line.consultant_id
        if self.round_robin:
            chosen = self.round_robin[self.next_consultant % len(self.round_robin)]
            self.next_consultant += 1
            return chosen
        return None

    def _update_debtor(self, debtor: Debtor, line: Line) -> bool:
        changes = []
        for name in DEBTOR_FIELDS:
            value = line.values.get(name)
            if value not in (None, "") and getattr(debtor, name) != value:
                changes.append(f"{FIELD_LABELS[name]}: {_shown(getattr(debtor, name))} → {_shown(value)}")
                setattr(debtor, name, value)
        if (self.imp.consultant_mode == "coluna" and line.consultant_id
                and debtor.consultant_id != line.consultant_id):
            changes.append("consultor alterado")
            debtor.consultant_id = line.consultant_id
        if changes:
            self.counts["debtors_updated"] += 1
            self._audit("import.debtor_update", f"Devedor {format_document(debtor.document)}",
                        f"Importação nº {self.imp.id}, linha {line.number}: " + "; ".join(changes))
        return bool(changes)

    def _update_debt(self, debt: Debt, line: Line) -> bool:
        changes = []
        amount, due = line.values["amount"], line.values["due_date"]
        if debt.amount != amount:
            changes.append(f"valor: {brl(debt.amount)} → {brl(amount)}")
            debt.amount = amount
        if debt.due_date != due:
            changes.append(f"vencimento: {br_date(debt.due_date)} → {br_date(due)}")
            debt.due_date = due
        if changes:
            self._audit("import.debt_update", f"Dívida contrato {debt.contract_number}",
                        f"Importação nº {self.imp.id}, linha {line.number}: " + "; ".join(changes))
        return bool(changes)

    def _report_missing(self) -> None:
        """The creditor's open debts the file does not list: reported (to be reviewed), never deleted."""
        query = (select(Debt.contract_number, Debtor.name, Debtor.document, Debt.amount, Debt.due_date)
                 .join(Debtor, Debtor.id == Debt.debtor_id)
                 .where(Debt.agency_id == self.imp.agency_id, Debt.creditor_id == self.imp.creditor_id,
                        Debt.status.in_(ACTIVE)).order_by(Debt.contract_number))
        missing = 0
        for contract, name, document, amount, due in db.session.execute(query).yield_per(2000):
            if contract in self.contracts:
                continue
            missing += 1
            self._problem(ProblemLevel.MISSING, 0, "dívida em aberto deste credor que o arquivo não traz "
                          "(não foi excluída)", [contract, name, format_document(document), brl(amount),
                                                 br_date(due)])
            if len(self.problems) >= CHUNK:
                db.session.execute(insert(ImportProblem), self.problems)
                self.problems = []
        self.imp.missing = missing


def _shown(value) -> str:
    if value is None or value == "":
        return "(vazio)"
    if isinstance(value, date):
        return br_date(value)
    return str(value)


def run_import(import_id: int, progress=None, should_cancel=None) -> PortfolioImport:
    """Run (or re-run, after an interrupted worker) one import to its end; safe to call twice."""
    imp = db.session.get(PortfolioImport, import_id)
    if imp is None or imp.status in (ImportStatus.DONE, ImportStatus.CANCELLED):
        return imp
    imp.status = ImportStatus.RUNNING
    if imp.rows_done:  # an interrupted run: start over (the upsert is idempotent), its problems again too
        db.session.query(ImportProblem).filter(ImportProblem.import_id == imp.id).delete()
    db.session.commit()
    try:
        Importer(imp).run(progress, should_cancel)
    except UnreadableFile as exc:
        db.session.rollback()
        imp.status, imp.error, imp.finished_at = ImportStatus.FAILED, str(exc), utcnow()
        db.session.commit()
    return imp


JOB_KIND = "import"


@jobs.register(JOB_KIND, "Importação de carteira")
def import_job(ctx: jobs.JobContext) -> None:
    """The job layer's entry: progress moves per committed chunk, Cancelar stops between chunks."""
    def progress(done: int, total: int) -> None:
        ctx.job.done, ctx.job.total = done, max(total, done)
        ctx.commit()

    imp = run_import(ctx.payload["import_id"], progress, ctx.cancelled)
    if imp is None:
        return
    ctx.job.summary = {"import_id": imp.id, "status": imp.status_label, "criadas": imp.created,
                       "atualizadas": imp.updated, "sem_alteracao": imp.unchanged, "recusadas": imp.refused,
                       "com_aviso": imp.warnings, "ausentes_do_arquivo": imp.missing}
    if imp.status == ImportStatus.FAILED:
        ctx.job.error = imp.error


def shown_value(values: dict, name: str) -> str:
    """A line's value as the panel will store and show it."""
    value = values.get(name)
    if value is None or value == "":
        return ""
    if name == "document":
        return format_document(value)
    if name == "amount":
        return brl(value)
    if name in ("due_date", "birth_date"):
        return br_date(value)
    if name == "cep":
        return format_cep(value)
    return str(value)


def preview_record(result: Preview, consultants: dict[int, str]) -> dict:
    """The preview as kept on the import (JSON): what the Conferência page shows."""
    def status(line: Line) -> str:
        return "recusada" if line.refused else ("aviso" if line.warnings else "ok")

    def values(line: Line) -> dict:
        shown = {name: shown_value(line.values, name) for name in FIELDS}
        shown["consultant"] = consultants.get(line.consultant_id, "") if line.consultant_id else ""
        return shown

    return {"description": result.description, "total": result.total, "valid": result.valid,
            "warned": result.warned, "refused": result.refused, "problems_total": result.problems_total,
            "sample": [{"line": ln.number, "status": status(ln), "reason": ln.reason, "values": values(ln)}
                       for ln in result.sample],
            "problems": [{"line": ln.number, "status": status(ln), "reason": ln.reason} for ln in result.problems]}


def estimate_lines(path: Path) -> int:
    """About how many data lines a file has (progress of the Conferência), read in blocks."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head == b"PK\x03\x04":
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            try:
                return max((book.worksheets[0].max_row or 1) - 1, 0)
            finally:
                book.close()
        handle.seek(0)
        count = 0
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return max(count - 1, 0)


CHECK_KIND = "import.check"


@jobs.register(CHECK_KIND, "Conferência de carteira")
def check_job(ctx: jobs.JobContext) -> None:
    """Validate the whole file off the request; the Conferência page shows the result kept on the import."""
    imp = db.session.get(PortfolioImport, ctx.payload["import_id"])
    if imp is None or imp.status != ImportStatus.UPLOADED:
        return
    ctx.job.total = estimate_lines(stored_path(imp.stored_name))
    ctx.commit()

    def progress(done: int) -> None:
        ctx.job.done, ctx.job.total = done, max(ctx.job.total, done)
        ctx.commit()

    try:
        result = preview(imp, progress)
    except UnreadableFile as exc:
        ctx.job.error = str(exc)
        imp.preview = {"error": str(exc)}
        db.session.commit()
        return
    consultants = dict(db.session.execute(select(User.id, User.name).where(User.agency_id == imp.agency_id)).all())
    db.session.refresh(imp)
    if imp.job_id != ctx.job.id or imp.status != ImportStatus.UPLOADED:
        ctx.job.summary = {"import_id": imp.id, "skipped": "Colunas alteradas durante a conferência: uma nova "
                                                          "conferência foi feita."}
        db.session.commit()
        return  # the columns changed meanwhile: a newer check job owns the preview
    imp.preview = preview_record(result, consultants)
    imp.rows_total = result.total
    ctx.job.done = ctx.job.total = result.total
    ctx.job.summary = {"import_id": imp.id, "linhas": result.total, "validas": result.valid,
                       "com_aviso": result.warned, "recusadas": result.refused}
    db.session.commit()


# --- upload and downloads (the screens' work, without the request) ------------------------------------------

class UploadRefused(ValueError):
    """The uploaded file cannot start an import; the message is for the user (pt-BR)."""


def store_upload(stream, filename: str, creditor, user, limit: int) -> PortfolioImport:
    """Copy an uploaded carteira to ``IMPORT_DIR`` in 1 MiB blocks (never whole in memory), refuse it when it passes
    ``limit`` bytes or cannot be read, and record the import with the creditor's remembered (or guessed) mapping."""
    name = f"{uuid.uuid4().hex}.dat"
    path = stored_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        path.unlink(missing_ok=True)
        raise UploadRefused(f"O arquivo passa do limite de {limit // (1024 * 1024)} MB.")
    try:
        sheet = open_sheet(path)
    except UnreadableFile as exc:
        path.unlink(missing_ok=True)
        raise UploadRefused(str(exc)) from exc
    remembered = db.session.get(CreditorImportMapping, creditor.id)
    imp = PortfolioImport(agency_id=creditor.agency_id, creditor_id=creditor.id, user_id=user.id,
                          filename=(filename or "carteira")[-255:], stored_name=name, size=size,
                          mapping=guess_mapping(sheet.headers, remembered.mapping if remembered else None),
                          consultant_mode="nenhum", consultant_ids=[])
    db.session.add(imp)
    db.session.flush()
    return imp


#: What the result page offers to download: ?what= → the kind of problem.
PROBLEM_DOWNLOADS = {"recusadas": ProblemLevel.REFUSED, "avisos": ProblemLevel.WARNING,
                     "ausentes": ProblemLevel.MISSING}


def problem_rows(imp: PortfolioImport, what: str, file_headers: list[str]) -> tuple[list, list]:
    """Header and rows of one download: refused lines with the file's own columns + line + reason (fix and
    resend), warnings by line, or the open debts missing from the file (never deleted)."""
    level = PROBLEM_DOWNLOADS[what]
    problems = db.session.execute(select(ImportProblem.line, ImportProblem.reason, ImportProblem.cells).where(
        ImportProblem.import_id == imp.id, ImportProblem.level == level).order_by(ImportProblem.line,
                                                                                ImportProblem.id))
    if level == ProblemLevel.MISSING:
        header = ["Contrato", "Devedor", "CPF/CNPJ", "Valor", "Vencimento", "Situação"]
        return header + ["Observação"], [[*cells, "Não excluída: confira com o credor"] for _, _, cells in problems]
    if level == ProblemLevel.REFUSED:
        width = len(file_headers)
        header = [*file_headers, "Linha no arquivo", "Motivo da recusa"]
        return header, [[*(cells + [""] * width)[:width], line, reason] for line, reason, cells in problems]
    return ["Linha no arquivo", "Aviso"], [[line, reason] for line, reason, _ in problems]
