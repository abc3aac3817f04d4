"""Debt and negotiation rules stated at their boundaries: pure units on unsaved rows (models/debt.py).

`make mutation` (tools/mutation.py) checks that changing a rule in models/debt.py makes one of these fail.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from models import Debt, Negotiation
from models.debt import (
    DebtNotAllowed,
    DebtStatus,
    NegotiationNotAllowed,
    NegotiationStatus,
    Settlement,
)

TODAY = date(2026, 11, 27)


def _debt(**over) -> Debt:
    return Debt(**({"contract_number": "CT-1", "amount": Decimal("100.00"), "due_date": date(2026, 1, 10),
                    "status": DebtStatus.OPEN} | over))


# --- a debt -------------------------------------------------------------------------------------------------


def test_a_debt_paid_on_a_day_records_that_day_and_when_it_was_recorded():
    debt = _debt(status=DebtStatus.PAID, paid_on=TODAY - timedelta(days=3))
    assert debt.transition(DebtStatus.OPEN, TODAY) == Settlement(debt, DebtStatus.PAID, TODAY - timedelta(days=3))
    assert debt.paid_on == TODAY - timedelta(days=3) and debt.paid_at is not None


def test_a_debt_paid_without_a_day_was_paid_today():
    debt = _debt(status=DebtStatus.PAID)
    assert debt.transition(DebtStatus.OPEN, TODAY) == Settlement(debt, DebtStatus.PAID, TODAY)
    assert debt.paid_on == TODAY


def test_a_payment_may_be_today_never_tomorrow():
    _debt(status=DebtStatus.PAID, paid_on=TODAY).transition(None, TODAY)
    with pytest.raises(DebtNotAllowed, match="^A data do pagamento não pode estar no futuro.$"):
        _debt(status=DebtStatus.PAID, paid_on=TODAY + timedelta(days=1)).transition(None, TODAY)


def test_only_a_paid_debt_carries_a_payment_day():
    for status in (DebtStatus.OPEN, DebtStatus.IN_AGREEMENT, DebtStatus.CANCELLED):
        with pytest.raises(DebtNotAllowed, match="^Informe a data do pagamento só quando a situação for Paga.$"):
            _debt(status=status, paid_on=TODAY).transition(DebtStatus.OPEN, TODAY)


def test_reopening_a_paid_debt_clears_its_payment():
    debt = _debt(status=DebtStatus.OPEN, paid_at=None)
    debt.paid_at = debt.paid_on = None
    debt.mark_paid(TODAY, TODAY)
    debt.status, debt.paid_on = DebtStatus.OPEN, None
    assert debt.transition(DebtStatus.PAID, TODAY) is None
    assert (debt.paid_on, debt.paid_at) == (None, None)


def test_a_debt_settles_when_it_becomes_paid_or_in_agreement_not_when_it_stays():
    agreed = _debt(status=DebtStatus.IN_AGREEMENT)
    assert agreed.transition(DebtStatus.OPEN, TODAY) == Settlement(agreed, DebtStatus.IN_AGREEMENT, TODAY)
    assert agreed.paid_on is None
    assert _debt(status=DebtStatus.IN_AGREEMENT).transition(None, TODAY) is not None  # created in agreement
    assert _debt(status=DebtStatus.IN_AGREEMENT).transition(DebtStatus.IN_AGREEMENT, TODAY) is None
    assert _debt(status=DebtStatus.PAID, paid_on=TODAY).transition(DebtStatus.PAID, TODAY) is None
    for status in (DebtStatus.OPEN, DebtStatus.CANCELLED):
        assert _debt(status=status).transition(DebtStatus.PAID, TODAY) is None


def test_the_first_payment_record_is_kept_when_the_day_is_corrected():
    debt = _debt()
    debt.mark_paid(TODAY - timedelta(days=2), TODAY)
    first = debt.paid_at
    debt.mark_paid(TODAY - timedelta(days=1), TODAY)
    assert debt.paid_at == first and debt.paid_on == TODAY - timedelta(days=1)


# --- a negotiation ------------------------------------------------------------------------------------------


def _negotiation(status, *debts, **over) -> Negotiation:
    return Negotiation(status=status, debts=list(debts), **over)


@pytest.mark.parametrize("status", [NegotiationStatus.SETTLED, NegotiationStatus.AGREEMENT])
def test_a_settled_or_agreed_negotiation_carries_its_day_default_today_never_tomorrow(status):
    negotiation = _negotiation(status)
    negotiation.transition(NegotiationStatus.OPEN, TODAY)
    assert negotiation.settled_on == TODAY
    typed = _negotiation(status, settled_on=TODAY - timedelta(days=4))
    typed.transition(NegotiationStatus.OPEN, TODAY)
    assert typed.settled_on == TODAY - timedelta(days=4)
    _negotiation(status, settled_on=TODAY).transition(None, TODAY)
    with pytest.raises(NegotiationNotAllowed, match="^A data do pagamento / acordo não pode estar no futuro.$"):
        _negotiation(status, settled_on=TODAY + timedelta(days=1)).transition(None, TODAY)


@pytest.mark.parametrize("status", [NegotiationStatus.OPEN, NegotiationStatus.PROPOSAL, NegotiationStatus.BROKEN,
                                    NegotiationStatus.CANCELLED])
def test_other_negotiation_statuses_carry_no_day(status):
    assert _negotiation(status).transition(None, TODAY) == []
    with pytest.raises(NegotiationNotAllowed, match="^Informe a data do pagamento / acordo só quando a situação for "
                                                    "Quitada ou Acordo firmado.$"):
        _negotiation(status, settled_on=TODAY).transition(None, TODAY)


def test_settling_a_negotiation_pays_its_debts_still_in_collection_on_its_day():
    day = TODAY - timedelta(days=2)
    open_debt, agreed, paid, cancelled = (_debt(), _debt(status=DebtStatus.IN_AGREEMENT),
                                          _debt(status=DebtStatus.PAID, paid_on=TODAY - timedelta(days=9)),
                                          _debt(status=DebtStatus.CANCELLED))
    # the debts left alone come first: the ones after them are still settled
    negotiation = _negotiation(NegotiationStatus.SETTLED, paid, open_debt, cancelled, agreed, settled_on=day)
    assert negotiation.transition(NegotiationStatus.AGREEMENT, TODAY) == [
        Settlement(open_debt, DebtStatus.PAID, day), Settlement(agreed, DebtStatus.PAID, day)]
    assert [d.status for d in (open_debt, agreed, paid, cancelled)] == [DebtStatus.PAID, DebtStatus.PAID,
                                                                         DebtStatus.PAID, DebtStatus.CANCELLED]
    assert (open_debt.paid_on, agreed.paid_on, paid.paid_on) == (day, day, TODAY - timedelta(days=9))
    assert open_debt.paid_at is not None


def test_an_agreement_puts_the_open_debts_in_agreement_without_a_payment():
    open_debt, agreed, paid = _debt(), _debt(status=DebtStatus.IN_AGREEMENT), _debt(status=DebtStatus.PAID)
    negotiation = _negotiation(NegotiationStatus.AGREEMENT, agreed, paid, open_debt)
    assert negotiation.transition(NegotiationStatus.PROPOSAL, TODAY) == [
        Settlement(open_debt, DebtStatus.IN_AGREEMENT, TODAY)]
    assert (open_debt.status, open_debt.paid_on, agreed.status, paid.status) == (
        DebtStatus.IN_AGREEMENT, None, DebtStatus.IN_AGREEMENT, DebtStatus.PAID)


def test_saving_a_negotiation_again_in_the_same_status_settles_nothing_more():
    debt = _debt()
    negotiation = _negotiation(NegotiationStatus.SETTLED, debt, settled_on=TODAY)
    assert negotiation.transition(NegotiationStatus.SETTLED, TODAY) == []
    assert debt.status == DebtStatus.OPEN
    created = _negotiation(NegotiationStatus.AGREEMENT, _debt())
    assert len(created.transition(None, TODAY)) == 1  # a negotiation created as Acordo firmado
