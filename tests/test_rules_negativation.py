"""The legal rules of a negativation stated at their boundaries (pure units, no database).

Each test names the rule it pins down; `make mutation` (tools/mutation.py) checks that changing the rule in
models/negativation.py (a `<` for a `<=`, 5 years for 4, a dropped state) makes one of them fail.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import product

import pytest

from models import Creditor, Debt, Debtor
from models.debt import DebtStatus
from models.negativation import (
    ExclusionMotive,
    Negativation,
    NegativationBatch,
    NegativationNotAllowed,
    add_business_days,
    check_exclusion_request,
    eligibility_problems,
    exclusion_code_for,
    expiry_date,
    removal_deadline,
)
from models.negativation import NegativationStatus as S

TODAY = date(2026, 11, 27)  # a Friday
VALID_CPF = "52998224725"
VALID_CNPJ = "11222333000181"


def _debt(**over):
    """An unsaved, eligible debt on TODAY; ``debtor_*`` keys set the debtor, ``creditor`` replaces the creditor."""
    debtor = Debtor(document=VALID_CPF, name="Maria", birth_date=date(1980, 1, 1), street="Rua A", number="1",
                    neighbourhood="Centro", city="São Paulo", uf="SP", cep="01001000")
    debt = Debt(debtor=debtor, creditor=over.pop("creditor", Creditor(name="Credor", cnpj=VALID_CNPJ)),
                contract_number="C1", amount=Decimal("100.00"), due_date=date(2026, 1, 10), status=DebtStatus.OPEN)
    for key, value in over.items():
        target = debtor if key.startswith("debtor_") else debt
        setattr(target, key.removeprefix("debtor_"), value)
    return debt


# --- 5 years (CDC art. 43 §1º, Súmula 323) ----------------------------------------------------------------


@pytest.mark.parametrize("due,expiry", [
    (date(2021, 3, 10), date(2026, 3, 11)),
    (date(2024, 2, 28), date(2029, 2, 28)),  # starts 29/02/2024; 2029 has no 29/02: the 28th
    (date(2024, 2, 29), date(2029, 3, 1)),  # starts 01/03/2024
    (date(2023, 2, 28), date(2028, 3, 1)),  # starts 01/03/2023 (2028 is a leap year: still 01/03)
    (date(2027, 2, 28), date(2032, 3, 1)),  # starts 01/03/2027, lands after 29/02/2032
    (date(2021, 12, 31), date(2027, 1, 1)),
])
def test_expiry_is_the_day_after_the_due_date_plus_five_years(due, expiry):
    assert expiry_date(due) == expiry


@pytest.mark.parametrize("due,today,refused", [
    (date(2021, 11, 26), date(2026, 11, 27), True),  # expiry 27/11/2026 == today: refused
    (date(2021, 11, 27), date(2026, 11, 27), False),  # expiry tomorrow: still allowed
    (date(2024, 2, 28), date(2029, 2, 28), True),  # 29 February: expiry lands on 28/02/2029
    (date(2024, 2, 28), date(2029, 2, 27), False),
    (date(2024, 2, 29), date(2029, 2, 28), False),  # due on 29/02: expiry 01/03/2029
    (date(2024, 2, 29), date(2029, 3, 1), True),
])
def test_exactly_five_years_is_refused_the_day_before_is_not(due, today, refused):
    problems = eligibility_problems(_debt(due_date=due), today)
    five_years = "o vencimento passou de 5 anos (CDC art. 43 §1º; Súmula 323 do STJ)"
    assert problems == ([five_years] if refused else [])


def test_not_yet_overdue_on_the_due_date_overdue_the_day_after():
    assert eligibility_problems(_debt(due_date=TODAY), TODAY) == ["a dívida ainda não venceu"]
    assert eligibility_problems(_debt(due_date=date(2026, 11, 28)), TODAY) == ["a dívida ainda não venceu"]
    assert eligibility_problems(_debt(due_date=date(2026, 11, 26)), TODAY) == []


# --- 5 business days to remove (Súmula 548) -------------------------------------------------------------


@pytest.mark.parametrize("paid,deadline", [
    (date(2026, 11, 16), date(2026, 11, 24)),  # 20/11 Consciência Negra
    (date(2026, 11, 13), date(2026, 11, 23)),  # Friday: weekend skipped, 20/11 skipped
    (date(2026, 11, 9), date(2026, 11, 16)),  # Monday of a plain week: 10..13, 16
    (date(2026, 11, 14), date(2026, 11, 23)),  # paid on a Saturday
    (date(2026, 4, 2), date(2026, 4, 10)),  # 03/04 Sexta-feira Santa
    (date(2026, 12, 28), date(2027, 1, 5)),  # 01/01/2027 (next year's calendar) is not a business day
    (date(2026, 12, 23), date(2026, 12, 31)),  # 25/12
])
def test_fifth_business_day_across_weekends_and_national_holidays(paid, deadline):
    assert removal_deadline(paid) == deadline


def test_add_business_days_steps_over_every_weekend_and_national_holiday_of_three_years():
    import holidays

    national = holidays.country_holidays("BR", years=range(2025, 2029))
    day = date(2025, 1, 1)
    while day.year < 2028:
        expected, left = day, 5
        while left:
            expected += timedelta(days=1)
            left -= expected.weekday() < 5 and expected not in national
        assert add_business_days(day, 5) == expected, day
        day += timedelta(days=1)


def test_add_business_days_counts_exactly_the_days_asked():
    assert add_business_days(date(2026, 11, 9), 0) == date(2026, 11, 9)
    assert add_business_days(date(2026, 11, 9), 1) == date(2026, 11, 10)
    assert add_business_days(date(2026, 11, 13), 1) == date(2026, 11, 16)  # Friday → Monday
    assert add_business_days(date(2026, 11, 19), 1) == date(2026, 11, 23)  # over the 20/11 holiday


# --- eligibility, one rule at a time ------------------------------------------------------------------------


def test_an_eligible_debt_has_no_problem():
    assert eligibility_problems(_debt(), TODAY) == []


@pytest.mark.parametrize("over,problem", [
    ({"status": DebtStatus.PAID}, "a dívida está paga"),
    ({"paid_at": date(2026, 11, 1)}, "a dívida está paga"),  # paid date recorded, status not updated
    ({"status": DebtStatus.CANCELLED}, "a dívida está cancelada"),
    ({"status": DebtStatus.IN_AGREEMENT}, "a dívida está em acordo"),
    ({"amount": None}, "o valor deve ser maior que zero"),
    ({"amount": Decimal("0")}, "o valor deve ser maior que zero"),
    ({"amount": Decimal("-1.00")}, "o valor deve ser maior que zero"),
    ({"debtor_street": None}, "endereço do devedor incompleto ou fora do padrão do Serasa: logradouro não informado"),
    ({"debtor_street": None, "debtor_city": ""},
     "endereço do devedor incompleto ou fora do padrão do Serasa: logradouro não informado, cidade não informado"),
    ({"creditor": None}, "o credor não tem CNPJ cadastrado"),
    ({"creditor": Creditor(name="Sem CNPJ", cnpj=None)}, "o credor não tem CNPJ cadastrado"),
    ({"creditor": Creditor(name="Sem CNPJ", cnpj="")}, "o credor não tem CNPJ cadastrado"),
])
def test_each_rule_alone_gives_exactly_its_reason(over, problem):
    assert eligibility_problems(_debt(**over), TODAY) == [problem]


def test_smallest_amount_is_accepted():
    assert eligibility_problems(_debt(amount=Decimal("0.01")), TODAY) == []


def test_invalid_cpf_or_cnpj_is_refused():
    debt = _debt()
    debt.debtor.__dict__["document"] = "52998224700"  # bypass the model's validator: data from an old import
    assert eligibility_problems(debt, TODAY) == ["CPF/CNPJ do devedor inválido"]
    debt.debtor.__dict__["document"] = "11222333000100"
    assert eligibility_problems(debt, TODAY) == ["CPF/CNPJ do devedor inválido"]


@pytest.mark.parametrize("birth,problems", [
    (date(2008, 11, 27), []),  # 18 today
    (date(2008, 11, 28), ["o devedor é menor de 18 anos"]),  # 18 tomorrow: 17 today
    (date(2009, 1, 1), ["o devedor é menor de 18 anos"]),  # 17
    (date(2008, 2, 29), []),  # born on 29/02/2008: 18 since 01/03/2026
    (None, []),  # unknown birth date: the rule cannot apply
])
def test_a_person_is_negativated_from_18_years_old(birth, problems):
    assert eligibility_problems(_debt(debtor_birth_date=birth), TODAY) == problems


def test_born_on_29_february_is_18_on_1_march_of_a_common_year():
    debt = _debt(debtor_birth_date=date(2008, 2, 29), due_date=date(2026, 1, 10))
    assert eligibility_problems(debt, date(2026, 2, 28)) == ["o devedor é menor de 18 anos"]
    assert eligibility_problems(debt, date(2026, 3, 1)) == []


def test_a_company_has_no_age():
    assert eligibility_problems(_debt(debtor_document=VALID_CNPJ, debtor_birth_date=date(2015, 1, 1)), TODAY) == []


def test_every_problem_is_listed_together_in_order():
    debt = _debt(status=DebtStatus.CANCELLED, amount=Decimal("0"), due_date=TODAY,
                 debtor_birth_date=date(2010, 1, 1), debtor_cep=None, creditor=None)
    assert eligibility_problems(debt, TODAY) == [
        "a dívida está cancelada",
        "o valor deve ser maior que zero",
        "a dívida ainda não venceu",
        "o devedor é menor de 18 anos",
        "endereço do devedor incompleto ou fora do padrão do Serasa: CEP não informado",
        "o credor não tem CNPJ cadastrado",
    ]


def test_paid_wins_over_cancelled_and_agreement():
    assert eligibility_problems(_debt(status=DebtStatus.CANCELLED, paid_at=date(2026, 1, 1)), TODAY) == [
        "a dívida está paga"]


# --- the new record ----------------------------------------------------------------------------------------


def test_a_new_record_is_a_pending_snapshot_of_what_is_sent():
    debt = _debt(due_date=date(2024, 2, 28))
    debt.agency_id, debt.debtor_id, debt.creditor_id = 7, 8, 9
    record = Negativation.for_debt(debt, 42, "R1")
    assert (record.agency_id, record.debt, record.debtor_id, record.creditor_id) == (7, debt, 8, 9)
    assert (record.document, record.contract_number, record.amount, record.due_date) == (
        VALID_CPF, "C1", Decimal("100.00"), date(2024, 2, 28))
    assert record.status == S.PENDING
    assert record.expires_on == date(2029, 2, 28)
    assert (record.restriction_code, record.created_by_id) == ("R1", 42)
    [event] = record.events
    assert (event.actor_id, event.from_status, event.to_status, event.message, event.soa_code) == (
        42, None, S.PENDING, "Inclusão solicitada.", None)


# --- life cycle: the whole transition table -------------------------------------------------------------

ALLOWED = {
    S.PENDING: {S.SENT, S.REJECTED, S.ERROR, S.UNCERTAIN},
    S.ERROR: {S.PENDING, S.SENT, S.REJECTED, S.ERROR, S.UNCERTAIN, S.EXCLUDED},
    S.UNCERTAIN: {S.SENT, S.ACTIVE, S.ERROR, S.REJECTED, S.UNCERTAIN, S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.SENT: {S.ACTIVE, S.REJECTED, S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.ACTIVE: {S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.EXCLUSION_REQUESTED: {S.EXCLUDED, S.ACTIVE},
    S.REJECTED: set(),
    S.EXCLUDED: set(),
}


@pytest.mark.parametrize("source,target", [(a, b) for a, b in product(S, S) if b in ALLOWED[a]])
def test_every_allowed_transition_moves_and_is_recorded(source, target):
    record = Negativation(status=source, soa_message="antes", soa_code="00")
    record.move(target, actor_id=5, message="SOA respondeu", code="123")
    assert record.status == target
    assert (record.soa_message, record.soa_code) == ("SOA respondeu", "123")
    [event] = record.events
    assert (event.actor_id, event.from_status, event.to_status, event.message, event.soa_code) == (
        5, source, target, "SOA respondeu", "123")


@pytest.mark.parametrize("source,target", [(a, b) for a, b in product(S, S) if b not in ALLOWED[a]])
def test_every_other_transition_is_refused_and_changes_nothing(source, target):
    record = Negativation(status=source, soa_message="antes")
    with pytest.raises(NegativationNotAllowed) as refused:
        record.move(target, actor_id=5, message="não")
    labels = {S.PENDING: "Pendente", S.SENT: "Enviada", S.ACTIVE: "Ativa", S.REJECTED: "Rejeitada",
              S.ERROR: "Erro (reenviar)", S.UNCERTAIN: "Incerta (conferir)",
              S.EXCLUSION_REQUESTED: "Baixa solicitada", S.EXCLUDED: "Excluída"}
    assert str(refused.value) == f"Transição inválida: {labels[source]} → {labels[target]}."
    assert (record.status, record.soa_message, list(record.events)) == (source, "antes", [])


@pytest.mark.parametrize("source,target", [(a, b) for a, b in product(S, S) if b in ALLOWED[a]])
def test_only_the_bureau_keeping_a_record_frees_its_exclusion_for_a_new_request(source, target):
    claimed = datetime(2026, 11, 27, 12, 0)
    record = Negativation(status=source, exclusion_claimed_at=claimed)
    record.move(target, actor_id=None)
    # SOA kept the record after a baixa was asked (Baixa solicitada → Ativa): the exclusion may be requested again
    freed = (source, target) == (S.EXCLUSION_REQUESTED, S.ACTIVE)
    assert record.exclusion_claimed_at == (None if freed else claimed)
    if freed:
        assert record.exclusion_claimed_at is None


def test_a_batch_counts_its_outcomes_by_result():
    batch = NegativationBatch(outcomes=[{"result": "incluida"}, {"result": "recusada"}, {"result": "incluida"},
                                        {"result": "falhou"}])
    assert (batch.count("incluida"), batch.count("recusada"), batch.count("falhou")) == (2, 1, 1)
    assert NegativationBatch(outcomes=[]).count("incluida") == 0


def test_a_move_without_message_or_code_keeps_the_last_ones():
    record = Negativation(status=S.SENT, soa_message="aceita", soa_code="0")
    record.move(S.ACTIVE, actor_id=None)
    assert (record.status, record.soa_message, record.soa_code) == (S.ACTIVE, "aceita", "0")
    [event] = record.events
    assert (event.actor_id, event.message, event.soa_code) == (None, None, None)
    record.move(S.EXCLUSION_REQUESTED, actor_id=None, message="", code="")
    assert (record.soa_message, record.soa_code) == ("", "")


@pytest.mark.parametrize("state", list(S))
def test_open_states_are_those_that_block_a_second_record(state):
    blocking = {S.PENDING, S.SENT, S.ACTIVE, S.ERROR, S.UNCERTAIN, S.EXCLUSION_REQUESTED}
    assert Negativation(status=state).is_open is (state in blocking)


def test_a_failed_attempt_is_noted_without_changing_state():
    record = Negativation(status=S.ACTIVE, soa_message="ativa")
    record.note("Pedido de baixa falhou: fora do ar", actor_id=3, code="503")
    [event] = record.events
    assert (event.actor_id, event.from_status, event.to_status, event.message, event.soa_code) == (
        3, S.ACTIVE, S.ACTIVE, "Pedido de baixa falhou: fora do ar", "503")
    assert (record.status, record.soa_message) == (S.ACTIVE, "ativa")
    record.note("sem código", actor_id=None)
    assert (record.events[1].actor_id, record.events[1].soa_code) == (None, None)


# --- payment and the removal deadline ---------------------------------------------------------------------


@pytest.mark.parametrize("state", list(S))
def test_a_paid_record_still_at_the_bureau_must_be_excluded(state):
    record = Negativation(status=state, exclusion_motive=ExclusionMotive.PAYMENT)
    assert record.exclusion_due is (state in {S.ACTIVE, S.SENT, S.UNCERTAIN})
    assert Negativation(status=state).exclusion_due is False


def test_payment_starts_the_removal_clock_once():
    record = Negativation(status=S.ACTIVE)
    record.mark_paid(date(2026, 11, 16), ExclusionMotive.PAYMENT)
    assert (record.paid_on, record.removal_deadline, record.exclusion_motive) == (
        date(2026, 11, 16), date(2026, 11, 24), ExclusionMotive.PAYMENT)
    record.mark_paid(date(2026, 11, 20), ExclusionMotive.AGREEMENT)  # a second notice does not move the clock
    assert (record.paid_on, record.removal_deadline, record.exclusion_motive) == (
        date(2026, 11, 16), date(2026, 11, 24), ExclusionMotive.PAYMENT)


def test_payment_records_when_the_panel_learned_of_it_once():
    record = Negativation(status=S.ACTIVE)
    record.mark_paid(date(2026, 11, 16), ExclusionMotive.PAYMENT, date(2026, 11, 25))
    assert (record.paid_on, record.payment_recorded_on, record.removal_deadline) == (
        date(2026, 11, 16), date(2026, 11, 25), date(2026, 11, 24))  # the clock runs from the payment date
    record.mark_paid(date(2026, 11, 16), ExclusionMotive.PAYMENT, date(2026, 11, 16))
    assert record.payment_recorded_on == date(2026, 11, 25)
    unrecorded = Negativation(status=S.ACTIVE)
    unrecorded.mark_paid(date(2026, 11, 16), ExclusionMotive.PAYMENT)
    assert unrecorded.payment_recorded_on is None


def test_payment_keeps_a_motive_chosen_before():
    record = Negativation(status=S.ACTIVE, exclusion_motive=ExclusionMotive.COURT_ORDER)
    record.mark_paid(date(2026, 11, 16), ExclusionMotive.PAYMENT)
    assert record.exclusion_motive == ExclusionMotive.COURT_ORDER
    assert record.removal_deadline == date(2026, 11, 24)


@pytest.mark.parametrize("deadline,flag", [
    (date(2026, 11, 26), "vencido"),  # yesterday
    (date(2026, 11, 27), "proximo"),  # today: still in time
    (date(2026, 11, 28), "proximo"),
    (date(2026, 11, 29), "proximo"),  # 2 days ahead: the warning window's edge
    (date(2026, 11, 30), None),  # 3 days ahead: no warning yet
])
def test_removal_deadline_warning_and_its_window(deadline, flag):
    record = Negativation(status=S.ACTIVE, removal_deadline=deadline)
    assert record.deadline_flag(TODAY) == flag


@pytest.mark.parametrize("state", list(S))
def test_deadline_is_flagged_only_while_the_record_may_still_be_at_the_bureau(state):
    record = Negativation(status=state, removal_deadline=date(2026, 11, 20))
    expected = None if state in {S.EXCLUDED, S.REJECTED, S.EXCLUSION_REQUESTED} else "vencido"
    assert record.deadline_flag(TODAY) == expected


def test_no_deadline_no_flag():
    assert Negativation(status=S.ACTIVE, removal_deadline=None).deadline_flag(TODAY) is None


# --- exclusion: the code follows the motive -----------------------------------------------------------------

NOTE = "Ofício 123/2026"


@pytest.mark.parametrize("motive,code", [("pagamento", "1"), ("acordo", "2"), ("erro_contestacao", "3"),
                                         ("ordem_judicial", "4"), ("prazo_5_anos", "5"), ("outro", "5")])
def test_each_motive_has_soas_code(motive, code):
    assert exclusion_code_for(motive) == code
    assert exclusion_code_for(ExclusionMotive(motive)) == code


@pytest.mark.parametrize("motive,code", [("pagamento", "1"), ("acordo", "2"), ("erro_contestacao", "3"),
                                         ("ordem_judicial", "4"), ("outro", "5")])
def test_the_code_sent_is_the_motives_whether_typed_or_left_blank(motive, code):
    for typed in (None, "", code, int(code)):
        assert check_exclusion_request(motive, typed, NOTE) == code


@pytest.mark.parametrize("motive,code", list(product(["pagamento", "acordo", "erro_contestacao", "ordem_judicial",
                                                      "outro"], ["1", "2", "3", "4", "5", "9"])))
def test_a_code_that_lies_about_the_motive_is_refused(motive, code):
    expected = exclusion_code_for(motive)
    if code == expected:
        assert check_exclusion_request(motive, code, NOTE) == expected
        return
    label = {"pagamento": "Pagamento", "acordo": "Acordo", "erro_contestacao": "Erro / contestação",
             "ordem_judicial": "Ordem judicial", "outro": "Outro"}[motive]
    with pytest.raises(NegativationNotAllowed,
                       match=f"^O código de baixa {code} não corresponde ao motivo {label}: use o código {expected}.$"):
        check_exclusion_request(motive, code, NOTE)


@pytest.mark.parametrize("motive", ["", "prazo", None, "prazo_5_anos", "PAGAMENTO"])
def test_an_admin_must_pick_a_manual_motive(motive):
    # the 5-year expiry is the system's own motive, never picked by hand
    with pytest.raises(NegativationNotAllowed, match="^Escolha o motivo da baixa.$"):
        check_exclusion_request(motive, None, NOTE)


@pytest.mark.parametrize("motive,label", [("ordem_judicial", "Ordem judicial"), ("outro", "Outro")])
def test_a_court_order_or_other_motive_needs_a_written_note(motive, label):
    for note in (None, "", "  \n "):
        with pytest.raises(NegativationNotAllowed,
                           match=rf"^Descreva o motivo na observação \(obrigatória para {label}\).$"):
            check_exclusion_request(motive, None, note)
    assert check_exclusion_request(motive, None, "x") == exclusion_code_for(motive)


@pytest.mark.parametrize("motive", ["pagamento", "acordo", "erro_contestacao"])
def test_the_other_motives_need_no_note(motive):
    for note in (None, "", "   "):
        assert check_exclusion_request(motive, None, note) == exclusion_code_for(motive)


def test_a_wrong_code_is_refused_before_a_missing_note_is_asked_for():
    with pytest.raises(NegativationNotAllowed, match="^O código de baixa 1 não corresponde"):
        check_exclusion_request("ordem_judicial", "1", None)


# --- how a debt's Serasa situation reads --------------------------------------------------------------------


@pytest.mark.parametrize("state,label", [(S.PENDING, "Enviada"), (S.SENT, "Enviada"), (S.ACTIVE, "Ativa"),
                                         (S.EXCLUSION_REQUESTED, "Em baixa"), (S.EXCLUDED, "Baixada"),
                                         (S.REJECTED, "Rejeitada"), (S.ERROR, "Erro"), (S.UNCERTAIN, "Incerta")])
def test_each_state_reads_as_the_debt_lists_show_it(state, label):
    assert Negativation(status=state).serasa_label == label


@pytest.mark.parametrize("state", list(S))
def test_a_removal_is_pending_only_while_the_record_may_be_at_the_bureau(state):
    assert Negativation(status=state).removal_pending is False  # no deadline runs
    running = Negativation(status=state, removal_deadline=date(2026, 11, 24))
    assert running.removal_pending is (state in {S.ACTIVE, S.SENT, S.UNCERTAIN, S.PENDING})
