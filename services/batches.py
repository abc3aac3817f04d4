"""Negativar no Serasa as a kept report: the inclusions of one confirmation, and their per-debt outcomes."""

from __future__ import annotations

from models import AuditLog, NegativationBatch, db
from services import negativation as workflow


def negativate(agency, debts: list, user, restriction_code: str, ip: str | None = None) -> NegativationBatch:
    """Include the debts at Serasa (services.negativation.include_debts: rules, claim, SOA) and keep the report
    of the send (reopened, printed, exported, failures resent), audited; return it."""
    report = workflow.include_debts(agency, debts, user.id, restriction_code)
    batch = NegativationBatch(agency_id=agency.id, user_id=user.id, restriction_code=restriction_code,
                              outcomes=[outcome_row(o) for o in report.outcomes])
    db.session.add(batch)
    db.session.flush()
    AuditLog.record("serasa.include", agency_id=agency.id, user_id=user.id, ip=ip,
                    target=f"Negativar no Serasa: relatório nº {batch.id}",
                    details=f"dividas={len(debts)}; incluidas={report.count('incluida')}; "
                            f"recusadas={report.count('recusada')}; falhas={report.count('falhou')}")
    db.session.commit()
    return batch


def outcome_row(outcome) -> dict:
    """One debt's line of the kept report (plain JSON values)."""
    debt = outcome.debt
    return {"debt_id": debt.id, "contract": debt.contract_number, "debtor": debt.debtor.name,
            "document": debt.debtor.document, "creditor": debt.creditor.name, "amount": str(debt.amount),
            "due_date": debt.due_date.isoformat(), "result": outcome.result, "reason": outcome.reason,
            "negativation_id": outcome.negativation.id if outcome.negativation else None}
