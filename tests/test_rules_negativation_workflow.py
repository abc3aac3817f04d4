"""The eligibility and exclusion workflow (services.negativation) stated at its boundaries.

Service calls on the test database against the SOA sandbox over loopback HTTP (no screens, so the set stays quick
enough for `make mutation`, which checks that changing the workflow makes one of these fail).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update

from app import create_app
from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault
from integrations.serasa import SerasaError
from models import Agency, Debt, Negativation, SoaCall, db
from models.negativation import (
    DEBT_SERASA_FILTER,
    ExclusionMotive,
    NegativationNotAllowed,
    has_live_records,
    latest_by_debt,
    live_records,
    removal_deadline,
    serasa_filter_clause,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today
from services import negativation as svc
from tests import factories as f
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, reset_database

_APP = []


@pytest.fixture(scope="module")
def app(soa_server):
    """One app for the module (no screens here, so no SMTP server), built once per process: `make mutation`
    runs this file once per mutant in a process forked from one that already built it."""
    if not _APP:
        _APP.append(create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
                                "SECRET_KEY": "test-secret", "SOA_CONNECT_TIMEOUT": 1.0, "SOA_READ_TIMEOUT": 1.0}))
    app = _APP[0]
    app.config["SOA_URL_SANDBOX"] = soa_server.url
    with app.app_context():
        if ON_POSTGRES:
            reset_database()
        db.create_all()
    yield app
    with app.app_context():
        reset_database()
        db.engine.dispose()


@pytest.fixture
def ctx(app, soa, monkeypatch):
    """An agency with the integration on (sandbox credentials), an admin and its creditor; empty tables after."""
    svc._CODE_CACHE.clear()
    monkeypatch.setitem(app.config, "SOA_INCLUSION_COST", "0")
    with app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        admin = f.make_user(agency, "admin")
        creditor = f.make_creditor(agency)
        db.session.commit()
        yield agency, admin.id, creditor
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


def _debt(agency, creditor, **debtor):
    return f.make_debt(f.make_debtor(agency, **debtor), creditor, due_date=local_today() - timedelta(days=30))


def _include(agency, admin_id, debts, code="1"):
    return svc.include_debts(agency, debts, admin_id, code)


def _events(record):
    return [(e.from_status, e.to_status, e.message) for e in record.events]


def _soa_calls(operation):
    """Who each logged SOA call of ``operation`` is recorded for: (agency, user)."""
    return [(c.agency_id, c.user_id) for c in db.session.query(SoaCall).filter_by(operation=operation)]


def test_a_reason_reads_as_a_sentence():
    assert svc._sentence("a dívida está paga") == "A dívida está paga."
    assert svc._sentence("já existe (nº 3, enviada).") == "Já existe (nº 3, enviada)."
    assert svc._sentence("") == "."


# --- inclusion: eligibility --------------------------------------------------------------------------------


def test_an_eligible_debt_is_sent_and_its_history_kept(ctx, soa):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    report = _include(agency, admin_id, [debt], code="4")
    [outcome] = report.outcomes
    record = outcome.negativation
    assert (outcome.result, outcome.reason) == ("incluida", f"Protocolo {record.unique_id}")
    assert report.count("incluida") == 1 and report.count("recusada") == 0
    db.session.expire_all()
    record = db.session.get(Negativation, record.id)
    assert record.status == S.SENT and record.unique_id and record.sent_at is not None
    assert (record.restriction_code, record.created_by_id) == ("4", admin_id)
    assert _events(record) == [(None, S.PENDING, "Inclusão solicitada."),
                               (S.PENDING, S.SENT, "SOA aceitou a inclusão; aguardando o Serasa.")]
    assert [e.actor_id for e in record.events] == [admin_id, admin_id]
    assert _soa_calls("include") == [(agency.id, admin_id)]
    [sent] = soa.snapshot()["records"]
    assert (sent["document"], sent["contract"], sent["restriction_code"]) == (
        debt.debtor.document, debt.contract_number, "4")


def test_a_history_entry_is_added_without_loading_the_records_history(ctx):
    """A batch of thousands of records writes each SOA answer's history line without reading the history first."""
    agency, admin_id, creditor = ctx
    record = _include(agency, admin_id, [_debt(agency, creditor)], code="1").outcomes[0].negativation
    db.session.commit()
    db.session.expire_all()
    record = db.session.get(Negativation, record.id)
    record.note("Consulta ao SOA: sem mudança.", actor_id=admin_id)
    assert "events" in sa_inspect(record).unloaded, "the history was loaded to add one line"
    db.session.commit()
    db.session.expire_all()
    assert _events(db.session.get(Negativation, record.id))[-1] == (S.SENT, S.SENT, "Consulta ao SOA: sem mudança.")


def test_a_batch_writes_what_its_objects_show_and_keeps_the_consultants_scope(ctx):
    """Claims and answers are written with one statement per batch, not through the ORM's unit of work: the
    objects the report holds must say what the database says, and each record must carry its debtor's consultant
    (a consultant sees the Serasa records of their own debtors only)."""
    agency, admin_id, creditor = ctx
    consultant = f.make_user(agency, "consultor")
    mine, unassigned = _debt(agency, creditor, consultant=consultant), _debt(agency, creditor)
    outcomes = _include(agency, admin_id, [mine, unassigned]).outcomes
    shown = [(o.negativation.id, o.negativation.status, o.negativation.unique_id, o.negativation.sent_at,
              o.negativation.soa_message, o.negativation.consultant_id, o.negativation.debt_id) for o in outcomes]
    db.session.expire_all()
    stored = [(r.id, r.status, r.unique_id, r.sent_at, r.soa_message, r.consultant_id, r.debt_id)
              for r in (db.session.get(Negativation, row[0]) for row in shown)]
    assert shown == stored
    assert [row[1] for row in stored] == [S.SENT, S.SENT] and all(row[2] and row[3] for row in stored)
    assert [row[5] for row in stored] == [consultant.id, None]
    assert [row[6] for row in stored] == [mine.id, unassigned.id]
    assert [_events(db.session.get(Negativation, row[0]))[-1][:2] for row in stored] == [(S.PENDING, S.SENT)] * 2


def test_a_batch_is_claimed_with_the_same_statements_whatever_its_size(ctx):
    """One transaction, a few set-based statements: no savepoint, query or insert per debt (the per-debt path is
    only for a batch that lost a race for one of its debts)."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from devtools.queries import QueryCounter

    agency, admin_id, creditor = ctx
    counts = []
    for size in (2, 6):
        ids = [_debt(agency, creditor).id for _ in range(size)]
        db.session.commit()
        debts = list(db.session.scalars(select(Debt).options(joinedload(Debt.debtor), joinedload(Debt.creditor))
                                        .where(Debt.id.in_(ids)).order_by(Debt.id)).unique())  # as screens load them
        with QueryCounter(db.engine) as counter:
            claimed, refused = svc.claim_batch(agency, debts, admin_id, "1")
        assert ([d.id for d, _ in claimed], refused) == ([d.id for d in debts], [])
        assert [(r.status, r.debt_id, r.document) for _, r in claimed] == [
            (S.PENDING, d.id, d.debtor.document) for d in debts]
        db.session.commit()
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_a_batch_move_shows_in_a_history_already_loaded(ctx):
    from models.negativation import Transitions

    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    db.session.commit()
    with svc.keep_loaded():
        [(_, record)], _ = svc.claim_batch(agency, [debt], admin_id, "1")
        db.session.commit()
        assert _events(record) == [(None, S.PENDING, "Inclusão solicitada.")]
        batch = Transitions()
        batch.move(record, S.ERROR, actor_id=admin_id, message="SOA fora do ar.")
        assert (record.status, record.soa_message) == (S.ERROR, "SOA fora do ar.")  # what the report shows now
        batch.write()
        db.session.commit()
        assert _events(record)[-1] == (S.PENDING, S.ERROR, "SOA fora do ar.")


def test_a_batch_refuses_a_move_the_life_cycle_forbids_and_writes_nothing(ctx):
    from models.negativation import Transitions

    agency, admin_id, creditor = ctx
    record = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes[0].negativation
    db.session.commit()
    batch = Transitions()
    with pytest.raises(NegativationNotAllowed, match="Transição inválida: Enviada → Pendente"):
        batch.move(record, S.PENDING, actor_id=admin_id, message="de volta")
    batch.write()
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Negativation, record.id).status == S.SENT
    assert len(db.session.get(Negativation, record.id).events) == 2


def test_a_batch_move_from_baixa_solicitada_back_to_active_frees_the_exclusion_claim(ctx):
    """The bureau kept the record (exclusion refused): the claim is cleared so the exclusion may be asked again."""
    from models.negativation import Transitions

    agency, admin_id, creditor = ctx
    record = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes[0].negativation
    db.session.execute(update(Negativation).where(Negativation.id == record.id).values(
        status=S.EXCLUSION_REQUESTED, exclusion_claimed_at=datetime(2026, 1, 5, 12, 0)))
    db.session.commit()
    db.session.expire_all()
    record = db.session.get(Negativation, record.id)
    batch = Transitions()
    batch.move(record, S.ACTIVE, actor_id=None, message="O Serasa manteve o registro.", code="X1")
    batch.write()
    db.session.commit()
    assert (record.status, record.exclusion_claimed_at, record.soa_code) == (S.ACTIVE, None, "X1")
    db.session.expire_all()
    stored = db.session.get(Negativation, record.id)
    assert (stored.status, stored.exclusion_claimed_at, stored.soa_code, stored.soa_message) == (
        S.ACTIVE, None, "X1", "O Serasa manteve o registro.")
    assert _events(stored)[-1] == (S.EXCLUSION_REQUESTED, S.ACTIVE, "O Serasa manteve o registro.")


def test_answers_are_committed_within_the_window_while_other_calls_are_in_flight(app, monkeypatch):
    """A group of answers waits at most SOA_COMMIT_WINDOW_MS for others: a slow call does not hold back the
    answers already received (a process killed meanwhile would lose them)."""
    import threading

    from services.serasa import CallLog

    monkeypatch.setitem(app.config, "SOA_COMMIT_WINDOW_MS", 50)
    log, committed = [], threading.Event()

    def write():
        log.append("write")
        committed.set()

    def slow():
        committed.wait(5)  # answers only once the fast one is committed (or after 5 s: too late)
        return "slow"

    with app.app_context():
        svc.pump([(1, lambda: "fast"), (2, slow)], lambda key, result: log.append(result), workers=2,
                 calls=CallLog(None, None), write=write)
    assert log == ["fast", "write", "slow", "write"]


def test_a_second_step_is_sent_only_after_the_answer_that_led_to_it_is_committed(app, monkeypatch):
    """E.g. a consult that shows the record must leave the bureau: the exclusion is asked only once the consult's
    answer (and the exclusion's claim) is stored, however long the commit window."""
    import threading

    from services.serasa import CallLog

    monkeypatch.setitem(app.config, "SOA_COMMIT_WINDOW_MS", 10_000)
    log, second_sent = [], threading.Event()

    def second():
        log.append("second sent")
        second_sent.set()
        return "excluded"

    def apply(key, result):
        log.append(result)
        return second if result == "consulted" else None

    def other():
        second_sent.wait(5)
        return "other"

    with app.app_context():
        svc.pump([(1, lambda: "consulted"), (2, other)], apply, workers=2, calls=CallLog(None, None),
                 write=lambda: log.append("write"))
    assert log[:3] == ["consulted", "write", "second sent"]
    assert sorted(log[3:]) == sorted(["excluded", "other", "write"]) and log[-1] == "write"


def test_an_ineligible_debt_is_refused_with_every_reason_and_nothing_reaches_soa(ctx, soa):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor, birth_date=local_today() - timedelta(days=17 * 366), cep=None)
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    assert (outcome.result, outcome.negativation) == ("recusada", None)
    assert outcome.reason == ("O devedor é menor de 18 anos; endereço do devedor incompleto ou fora do padrão do "
                              "Serasa: CEP não informado.")
    assert soa.snapshot()["records"] == []
    assert db.session.query(Negativation).count() == 0


def test_one_bad_debt_never_blocks_the_others_and_the_users_order_is_kept(ctx):
    agency, admin_id, creditor = ctx
    good1, bad, good2 = _debt(agency, creditor), _debt(agency, creditor, street=None), _debt(agency, creditor)
    report = _include(agency, admin_id, [good1, bad, good2])
    assert [(o.debt.id, o.result) for o in report.outcomes] == [
        (good1.id, "incluida"), (bad.id, "recusada"), (good2.id, "incluida")]


@pytest.mark.parametrize("state", [S.PENDING, S.SENT, S.ACTIVE, S.UNCERTAIN, S.EXCLUSION_REQUESTED])
def test_an_open_record_prevents_a_duplicate(ctx, soa, state):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    existing = Negativation.for_debt(debt, admin_id, "1")
    existing.status = state
    db.session.add(existing)
    db.session.commit()
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    assert outcome.result == "recusada" and outcome.debt is debt
    assert outcome.reason == (f"Já existe uma negativação em andamento para esta dívida (nº {existing.id}, "
                              f"{state}).")
    assert soa.snapshot()["records"] == []


@pytest.mark.parametrize("state", [S.REJECTED, S.EXCLUDED])
def test_a_closed_record_does_not_prevent_a_new_one(ctx, state):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    old = Negativation.for_debt(debt, admin_id, "1")
    old.status = state
    db.session.add(old)
    db.session.commit()
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    assert outcome.result == "incluida" and outcome.negativation.id != old.id


def test_a_failed_attempt_is_retried_on_the_same_record(ctx):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    failed = Negativation.for_debt(debt, admin_id, "1")
    failed.status = S.ERROR
    db.session.add(failed)
    db.session.commit()
    [outcome] = _include(agency, admin_id, [debt], code="3").outcomes
    assert outcome.result == "incluida" and outcome.negativation.id == failed.id
    assert failed.restriction_code == "3"
    assert failed.events[1].actor_id == admin_id
    assert _events(failed)[1:] == [(S.ERROR, S.PENDING, "Nova tentativa de inclusão."),
                                   (S.PENDING, S.SENT, "SOA aceitou a inclusão; aguardando o Serasa.")]


def test_without_the_integration_or_credentials_every_debt_is_refused(ctx, soa):
    agency, admin_id, creditor = ctx
    debts = [_debt(agency, creditor), _debt(agency, creditor)]
    agency.serasa_enabled = False
    report = _include(agency, admin_id, debts)
    assert [o.debt for o in report.outcomes] == debts
    assert [(o.result, o.reason) for o in report.outcomes] == [
        ("recusada", "A integração com o Serasa está desabilitada no Perfil da assessoria.")] * 2
    agency.serasa_enabled, agency.soa_email = True, None
    report = _include(agency, admin_id, debts)
    assert {o.reason for o in report.outcomes} == {
        "Cadastre o e-mail e a senha da conta SOA no Perfil > Serasa (SOA WS)."}
    assert soa.snapshot()["records"] == []


def test_a_password_the_current_key_cannot_read_refuses_every_debt(ctx, soa):
    from cryptography.fernet import Fernet

    agency, admin_id, creditor = ctx
    agency.set_soa_password(DEFAULT_PASSWORD, Fernet.generate_key().decode())  # saved under a rotated-out key
    [outcome] = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes
    assert (outcome.result, outcome.reason) == (
        "recusada", "A senha do SOA não pôde ser lida com a chave atual (CREDENTIALS_KEY). Salve-a novamente.")
    assert soa.snapshot()["records"] == []


def test_the_database_refuses_a_second_open_record_the_check_did_not_see(ctx, soa):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    racing = Negativation.for_debt(debt, admin_id, "1")
    racing.status = "em_corrida"  # open for the unique index, unknown to the check: a concurrent request's row
    db.session.add(racing)
    db.session.commit()
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    assert (outcome.result, outcome.reason) == ("recusada", "Já existe uma negativação em andamento para esta dívida.")
    assert soa.snapshot()["records"] == []
    assert db.session.query(Negativation).count() == 1


# --- inclusion: failures are kept in the history -------------------------------------------------------------


def test_an_inclusion_soa_could_not_take_is_an_error_kept_in_the_history(ctx, soa):
    agency, admin_id, creditor = ctx
    soa.set_balance(DEFAULT_EMAIL, Decimal("0"))  # SOA answers "no credit" for the inclusion itself
    [outcome] = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes
    record = outcome.negativation
    assert outcome.result == "falhou" and outcome.reason == record.soa_message
    assert record.status == S.ERROR
    assert _events(record)[-1] == (S.PENDING, S.ERROR, record.soa_message)
    assert record.events[-1].actor_id == admin_id


def test_a_lost_answer_is_uncertain_and_never_resent(ctx, soa):
    agency, admin_id, creditor = ctx
    soa.set_fault("include", Fault(status_5xx=True))
    [outcome] = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes
    record = outcome.negativation
    assert outcome.result == "falhou" and record.status == S.UNCERTAIN
    assert record.soa_message.endswith(" A inclusão não será reenviada automaticamente: use Atualizar situação "
                                       "para conferir no SOA.")
    assert outcome.reason == record.soa_message.removesuffix(
        " A inclusão não será reenviada automaticamente: use Atualizar situação para conferir no SOA.")
    assert _events(record)[-1][:2] == (S.PENDING, S.UNCERTAIN)
    assert record.events[-1].actor_id == admin_id
    assert soa.snapshot()["calls"].get("include") == 1


def test_a_refusal_by_soa_is_rejected_with_its_code(ctx, soa):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    _at_soa(agency, Negativation.for_debt(debt, None, "1"))  # already there (sent from elsewhere): a duplicate
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    record = outcome.negativation
    assert outcome.result == "recusada" and record.status == S.REJECTED
    assert record.soa_code and outcome.reason == record.soa_message
    assert (record.events[-1].to_status, record.events[-1].soa_code) == (S.REJECTED, record.soa_code)
    assert record.events[-1].actor_id == admin_id


def test_a_failed_balance_check_sends_nothing(ctx, soa):
    agency, admin_id, creditor = ctx
    soa.set_fault("balance", Fault(status_5xx=True))
    [outcome] = _include(agency, admin_id, [_debt(agency, creditor)]).outcomes
    assert outcome.result == "falhou" and outcome.debt is not None
    assert outcome.reason.startswith("Não foi possível consultar o saldo antes de enviar: ")
    assert outcome.negativation.status == S.ERROR and outcome.negativation.soa_message == outcome.reason
    assert outcome.negativation.events[-1].actor_id == admin_id
    assert soa.snapshot()["records"] == []
    assert set(_soa_calls("balance")) == {(agency.id, admin_id)}  # each (retried) attempt logged


def test_a_prepaid_balance_pays_for_the_first_debts_only(app, ctx, soa):
    agency, admin_id, creditor = ctx
    app.config["SOA_INCLUSION_COST"] = "40"  # ctx puts it back
    soa.set_balance(DEFAULT_EMAIL, Decimal("100"))
    debts = [_debt(agency, creditor) for _ in range(3)]
    report = _include(agency, admin_id, debts)
    assert [o.result for o in report.outcomes] == ["incluida", "incluida", "falhou"]
    assert report.outcomes[2].reason == ("Saldo insuficiente no SOA WebServices para esta inclusão; compre "
                                         "créditos e tente de novo.")
    unpaid = report.outcomes[2].negativation
    assert (unpaid.status, unpaid.soa_message, unpaid.events[-1].actor_id) == (
        S.ERROR, report.outcomes[2].reason, admin_id)
    assert len(soa.snapshot()["records"]) == 2
    assert agency.soa_balance == Decimal("100") and agency.soa_balance_checked_at is not None


def test_what_the_balance_does_not_pay_for_is_the_end_of_the_users_list(app, ctx, soa):
    """A retry (a record in Erro) keeps its place in the user's list, as the confirmation showed it."""
    agency, admin_id, creditor = ctx
    app.config["SOA_INCLUSION_COST"] = "40"  # ctx puts it back
    soa.set_balance(DEFAULT_EMAIL, Decimal("100"))
    debts = [_debt(agency, creditor) for _ in range(3)]
    failed = Negativation.for_debt(debts[2], admin_id, "1")
    failed.status = S.ERROR
    db.session.add(failed)
    db.session.commit()
    report = _include(agency, admin_id, debts)
    assert [(o.debt.id, o.result) for o in report.outcomes] == [
        (debts[0].id, "incluida"), (debts[1].id, "incluida"), (debts[2].id, "falhou")]
    assert report.outcomes[2].negativation.id == failed.id


# --- exclusion -----------------------------------------------------------------------------------------------


def _at_soa(agency, record) -> str:
    """Send the record's inclusion straight to the sandbox (not through the workflow); return the protocol."""
    return svc.make_client(agency, svc.CallLog(agency.id, None)).include(svc._request_for(record))


def _sent(agency, admin_id, creditor, state=S.ACTIVE):
    """A record SOA knows (protocol stored), put in ``state``."""
    debt = _debt(agency, creditor)
    record = Negativation.for_debt(debt, admin_id, "1")
    record.unique_id, record.status = _at_soa(agency, record), state
    db.session.add(record)
    db.session.commit()
    return debt, record


@pytest.mark.parametrize("state", [S.ACTIVE, S.SENT, S.UNCERTAIN])
def test_exclusion_stores_the_motive_and_soas_code(ctx, soa, state):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor, state)
    record.exclusion_error = "tentativa anterior falhou"
    # the admin picks the code of the motive (3, erro/contestação): it is sent and kept with the motive and note
    svc.exclude_manually(agency, record, "erro_contestacao", "3", "Cliente contestou " + "x" * 300, admin_id)
    assert record.events[-1].actor_id == admin_id
    assert _soa_calls("exclude") == [(agency.id, admin_id)]
    assert record.status == S.EXCLUSION_REQUESTED
    assert (record.exclusion_motive, record.exclusion_code) == ("erro_contestacao", "3")
    assert record.exclusion_note == ("Cliente contestou " + "x" * 300)[:200]
    assert record.exclusion_requested_at is not None and record.exclusion_error is None
    assert _events(record)[-1] == (state, S.EXCLUSION_REQUESTED,
                                   f"Baixa solicitada ao SOA (Erro / contestação: {record.exclusion_note}; código 3).")
    assert (record.events[-1].soa_code, record.soa_code) == ("3", "3")
    [at_soa] = soa.snapshot()["records"]
    assert at_soa["exclusion_code"] == "3"
    assert at_soa["exclusion_description"] == f"Erro / contestação: {record.exclusion_note}"


NOTE = "Processo 0001234-56.2026.8.26.0100"


@pytest.mark.parametrize("motive,code,note", [("pagamento", "1", None), ("acordo", "2", None),
                                              ("erro_contestacao", "3", None), ("ordem_judicial", "4", NOTE),
                                              ("outro", "5", NOTE)])
def test_each_motive_has_its_default_exclusion_code(ctx, soa, motive, code, note):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    svc.exclude_manually(agency, record, motive, None, note, admin_id)
    assert (record.exclusion_motive, record.exclusion_code, record.exclusion_note) == (motive, code, note)
    label = svc.MOTIVE_LABELS[ExclusionMotive(motive)]
    assert soa.snapshot()["records"][0]["exclusion_description"] == (f"{label}: {note}" if note else label)
    assert soa.snapshot()["records"][0]["exclusion_code"] == code


@pytest.mark.parametrize("motive,wrong", [("pagamento", "4"), ("acordo", "1"), ("erro_contestacao", "5"),
                                          ("ordem_judicial", "1"), ("outro", "4")])
def test_a_code_inconsistent_with_the_motive_is_refused(ctx, soa, motive, wrong):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    count = len(record.events)
    expected = svc.EXCLUSION_CODE_BY_MOTIVE[ExclusionMotive(motive)]
    label = svc.MOTIVE_LABELS[ExclusionMotive(motive)]
    with pytest.raises(NegativationNotAllowed, match=(
            f"^O código de baixa {wrong} não corresponde ao motivo {label}: use o código {expected}.$")):
        svc.exclude_manually(agency, record, motive, wrong, NOTE, admin_id)
    assert (record.status, record.exclusion_motive, record.exclusion_code) == (S.ACTIVE, None, None)
    assert len(record.events) == count and soa.snapshot()["calls"].get("exclude") is None
    # the motive's own code, typed, goes through
    svc.exclude_manually(agency, record, motive, expected, NOTE, admin_id)
    assert (record.status, record.exclusion_code) == (S.EXCLUSION_REQUESTED, expected)


@pytest.mark.parametrize("motive", ["ordem_judicial", "outro"])
@pytest.mark.parametrize("note", [None, "", "   "])
def test_a_court_order_or_other_motive_needs_a_note(ctx, soa, motive, note):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    label = svc.MOTIVE_LABELS[ExclusionMotive(motive)]
    with pytest.raises(NegativationNotAllowed,
                       match=rf"^Descreva o motivo na observação \(obrigatória para {label}\).$"):
        svc.exclude_manually(agency, record, motive, None, note, admin_id)
    assert (record.status, record.exclusion_motive) == (S.ACTIVE, None)
    assert soa.snapshot()["calls"].get("exclude") is None


@pytest.mark.parametrize("motive", ["pagamento", "acordo", "erro_contestacao"])
def test_the_other_motives_need_no_note(ctx, soa, motive):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    svc.exclude_manually(agency, record, motive, None, "   ", admin_id)
    assert (record.status, record.exclusion_note) == (S.EXCLUSION_REQUESTED, None)


def test_a_retried_exclusion_sends_the_code_of_its_motive(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    record.exclusion_code = "4"  # a code left by an earlier attempt never overrides the motive's
    svc.exclude_manually(agency, record, "pagamento", None, "", admin_id)
    assert (record.exclusion_code, record.exclusion_note) == ("1", None)
    assert soa.snapshot()["records"][0]["exclusion_code"] == "1"


def test_exclusion_needs_a_known_motive(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    for motive in ("", "prazo", None):
        with pytest.raises(NegativationNotAllowed, match="^Escolha o motivo da baixa.$"):
            svc.exclude_manually(agency, record, motive, "1", None, admin_id)
    assert record.status == S.ACTIVE and record.exclusion_motive is None


@pytest.mark.parametrize("state", [S.PENDING, S.ERROR, S.REJECTED, S.EXCLUDED])
def test_exclusion_is_refused_for_a_record_not_at_the_bureau(ctx, state):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor, state)
    with pytest.raises(NegativationNotAllowed, match=r"^Só negativações ativas \(ou enviadas\) podem ser excluídas.$"):
        svc.exclude_manually(agency, record, "pagamento", "1", None, admin_id)
    assert (record.status, record.exclusion_motive) == (state, None)


def test_exclusion_without_protocol_is_refused(ctx):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor, S.UNCERTAIN)
    record.unique_id = None
    with pytest.raises(NegativationNotAllowed,
                       match="^A negativação não tem protocolo do SOA; atualize a situação primeiro.$"):
        svc.exclude_manually(agency, record, "pagamento", "1", None, admin_id)


def test_a_failed_exclusion_stays_due_and_is_in_the_history(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    soa.set_fault("exclude", Fault(status_5xx=True))
    with pytest.raises(SerasaError) as failed:
        svc.exclude_manually(agency, record, "pagamento", None, None, admin_id)
    assert record.status == S.ACTIVE and record.exclusion_due
    assert record.events[-1].actor_id == admin_id
    assert record.exclusion_error == failed.value.message
    assert _events(record)[-1] == (S.ACTIVE, S.ACTIVE, f"Pedido de baixa falhou: {failed.value.message}")
    assert record.exclusion_requested_at is None


def test_asking_again_while_requested_adds_no_transition(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    svc.exclude_manually(agency, record, "pagamento", None, None, admin_id)
    count = len(record.events)
    message = (r"^A baixa desta negativação já foi solicitada ao SOA \(ou está sendo solicitada agora por outra "
               r"pessoa\). Nada foi enviado de novo.$")
    with pytest.raises(svc.ExclusionAlreadyRequested, match=message):
        svc.exclude_manually(agency, record, "pagamento", None, None, admin_id)
    with pytest.raises(svc.ExclusionAlreadyRequested, match=message):
        svc.request_exclusion(svc.make_client(agency, svc.CallLog(agency.id, None)), record, "pagamento",
                              user_id=admin_id)
    assert record.status == S.EXCLUSION_REQUESTED and len(record.events) == count
    assert soa.snapshot()["calls"]["exclude"] == 1


def test_an_exclusion_claimed_by_another_request_sends_nothing(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    before = svc.utcnow()
    assert svc.claim_exclusion(record) is True
    assert before <= record.exclusion_claimed_at <= svc.utcnow()  # the claim shows on the record at once
    assert svc.claim_exclusion(record) is False  # exactly once
    with pytest.raises(svc.ExclusionAlreadyRequested, match=r"^A baixa desta negativação já foi solicitada ao SOA"):
        svc.exclude_manually(agency, record, "pagamento", None, None, admin_id)
    assert svc.request_exclusion(svc.make_client(agency, svc.CallLog(agency.id, None)), record, "pagamento",
                                 user_id=admin_id) is False
    assert (record.status, record.exclusion_motive) == (S.ACTIVE, None)
    assert soa.snapshot()["calls"].get("exclude") is None


@pytest.mark.parametrize("state", [S.EXCLUSION_REQUESTED, S.EXCLUDED, S.REJECTED, S.PENDING, S.ERROR])
def test_only_a_record_at_the_bureau_can_be_claimed_for_exclusion(ctx, soa, state):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor, state)
    assert svc.claim_exclusion(record) is False
    assert record.exclusion_claimed_at is None


def test_exclusions_go_on_with_the_integration_switched_off(ctx, soa):
    # switching it off stops new inclusions only: the law keeps running for the records already at the bureau
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    agency.serasa_enabled = False
    db.session.commit()
    svc.exclude_manually(agency, record, "pagamento", None, None, admin_id)
    assert record.status == S.EXCLUSION_REQUESTED
    with pytest.raises(NegativationNotAllowed, match="^A integração com o Serasa está desabilitada"):
        svc.make_client(agency, svc.CallLog(agency.id, None), inclusion=True)


def test_a_claim_older_than_ten_minutes_is_taken_over(ctx, soa):
    agency, admin_id, creditor = ctx
    _, record = _sent(agency, admin_id, creditor)
    now = svc.utcnow()
    record.exclusion_claimed_at = now - svc.EXCLUSION_CLAIM_EXPIRES + timedelta(seconds=30)
    db.session.commit()
    assert svc.claim_exclusion(record) is False  # still held
    record.exclusion_claimed_at = now - svc.EXCLUSION_CLAIM_EXPIRES - timedelta(seconds=1)
    db.session.commit()
    assert svc.claim_exclusion(record) is True  # the request that held it died


# --- payment: automatic exclusion ----------------------------------------------------------------------------

PAID = date(2026, 11, 16)  # a Monday: the 5 business days end on Tuesday 24/11/2026 (20/11 is a holiday)
DEADLINE = date(2026, 11, 24)


def test_paying_a_debt_without_record_says_nothing(ctx):
    agency, admin_id, creditor = ctx
    assert svc.on_debt_settled(agency, _debt(agency, creditor), "pagamento", PAID, admin_id, recorded_on=PAID) is None


@pytest.mark.parametrize("state", [S.ACTIVE, S.SENT])
def test_paying_requests_the_exclusion_at_once_with_the_legal_deadline(ctx, soa, state):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, state)
    notice = svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID)
    assert notice == f"Baixa da negativação nº {record.id} solicitada ao SOA. Prazo legal: 24/11/2026."
    assert record.status == S.EXCLUSION_REQUESTED
    assert (record.paid_on, record.removal_deadline, record.exclusion_motive, record.exclusion_code) == (
        date(2026, 11, 16), date(2026, 11, 24), "pagamento", "1")
    assert record.events[-1].actor_id == admin_id
    assert _soa_calls("exclude") == [(agency.id, admin_id)]


def test_paying_while_soa_is_down_keeps_the_exclusion_due(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor)
    soa.set_fault("exclude", Fault(status_5xx=True))
    notice = svc.on_debt_settled(agency, debt, "acordo", PAID, admin_id, recorded_on=PAID)
    assert notice.startswith(f"A baixa da negativação nº {record.id} não foi aceita agora (")
    assert notice.endswith("). Ela fica pendente e será tentada de novo; prazo legal: 24/11/2026.")
    assert record.status == S.ACTIVE and record.exclusion_due and record.exclusion_error
    assert record.exclusion_motive == "acordo"


@pytest.mark.parametrize("unique_id", [None, ""])
def test_paying_while_the_inclusion_is_unconfirmed_waits_for_the_protocol(ctx, soa, unique_id):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, S.UNCERTAIN)
    record.unique_id = unique_id
    notice = svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID)
    assert notice == (f"A negativação nº {record.id} ainda está sendo conferida no SOA; a baixa será pedida assim "
                      "que houver protocolo (Atualizar situação). Prazo legal: 24/11/2026.")
    assert record.status == S.UNCERTAIN and record.exclusion_due
    pending_debt = _debt(agency, creditor)
    pending = Negativation.for_debt(pending_debt, admin_id, "1")
    db.session.add(pending)
    db.session.flush()
    assert "ainda está sendo conferida" in svc.on_debt_settled(agency, pending_debt, "pagamento",
                                                               PAID, admin_id, recorded_on=PAID)
    assert pending.status == S.PENDING and pending.removal_deadline == date(2026, 11, 24)


def test_paying_a_debt_whose_inclusion_failed_closes_the_record(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, S.ERROR)
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID) is None
    assert record.status == S.EXCLUDED
    assert _events(record)[-1] == (S.ERROR, S.EXCLUDED, "Dívida quitada antes da inclusão: envio cancelado.")
    assert record.events[-1].actor_id == admin_id
    assert soa.snapshot()["records"][0]["status"] != "Baixada"  # nothing asked of SOA


def test_paying_when_the_exclusion_was_already_requested_only_records_the_payment(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, S.EXCLUSION_REQUESTED)
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID) is None
    assert record.status == S.EXCLUSION_REQUESTED and record.removal_deadline == removal_deadline(
        date(2026, 11, 16))
    assert soa.snapshot()["calls"].get("exclude") is None


def test_paying_an_active_record_without_protocol_keeps_the_reason_visible(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor)
    record.unique_id = None
    notice = svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID)
    assert notice == (f"A baixa da negativação nº {record.id} não foi aceita agora (A negativação não tem protocolo "
                      "do SOA; atualize a situação primeiro.). Ela fica pendente e será tentada de novo; prazo "
                      "legal: 24/11/2026.")
    assert record.exclusion_error == "A negativação não tem protocolo do SOA; atualize a situação primeiro."
    record.exclusion_error = "primeira falha"
    svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID)
    assert record.exclusion_error == "primeira falha"  # the first reason is kept


@pytest.mark.parametrize("state", [S.REJECTED, S.EXCLUDED])
def test_paying_a_debt_whose_record_is_closed_changes_nothing(ctx, soa, state):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, state)
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID) is None
    assert (record.status, record.paid_on, record.exclusion_motive) == (state, None, None)


LATE = "Pagamento registrado com atraso: o prazo legal de baixa venceu em 24/11/2026. "


def test_a_payment_recorded_on_the_deadline_itself_is_on_time(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor)
    notice = svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=DEADLINE)
    assert notice == f"Baixa da negativação nº {record.id} solicitada ao SOA. Prazo legal: 24/11/2026."
    assert (record.paid_on, record.payment_recorded_on, record.removal_deadline) == (PAID, DEADLINE, DEADLINE)
    assert record.registered_late is False


def test_a_payment_recorded_the_day_after_the_deadline_is_flagged_late(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor)
    notice = svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=DEADLINE + timedelta(days=1))
    # the deadline still counts from the payment date typed, not from the day it was recorded
    assert notice == LATE + f"Baixa da negativação nº {record.id} solicitada ao SOA. Prazo legal: 24/11/2026."
    assert (record.paid_on, record.removal_deadline, record.status) == (PAID, DEADLINE, S.EXCLUSION_REQUESTED)
    assert record.registered_late is True


def test_a_late_payment_keeps_the_flag_on_every_notice(ctx, soa):
    agency, admin_id, creditor = ctx
    late = DEADLINE + timedelta(days=1)
    debt, record = _sent(agency, admin_id, creditor, S.UNCERTAIN)
    record.unique_id = None
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=late) == LATE + (
        f"A negativação nº {record.id} ainda está sendo conferida no SOA; a baixa será pedida assim que houver "
        "protocolo (Atualizar situação). Prazo legal: 24/11/2026.")
    debt, record = _sent(agency, admin_id, creditor)
    soa.set_fault("exclude", Fault(status_5xx=True))
    notice = svc.on_debt_settled(agency, debt, "acordo", PAID, admin_id, recorded_on=late)
    assert notice.startswith(LATE + f"A baixa da negativação nº {record.id} não foi aceita agora (")
    # nothing to say (the record never reached the bureau): no notice at all, late or not
    debt, record = _sent(agency, admin_id, creditor, S.ERROR)
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=late) is None
    assert record.registered_late is True


def test_without_a_recording_date_the_payment_is_recorded_today(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor)
    today = local_today(agency.timezone)
    notice = svc.on_debt_settled(agency, debt, "pagamento", today, admin_id)
    assert record.payment_recorded_on == today and record.paid_on == today
    assert record.registered_late is False
    assert notice == (f"Baixa da negativação nº {record.id} solicitada ao SOA. Prazo legal: "
                      f"{removal_deadline(today):%d/%m/%Y}.")


def test_a_second_payment_notice_keeps_the_first_dates(ctx, soa):
    agency, admin_id, creditor = ctx
    debt, record = _sent(agency, admin_id, creditor, S.EXCLUSION_REQUESTED)
    assert svc.on_debt_settled(agency, debt, "pagamento", PAID, admin_id, recorded_on=PAID) is None
    assert svc.on_debt_settled(agency, debt, "acordo", PAID + timedelta(days=20), admin_id,
                               recorded_on=DEADLINE + timedelta(days=30)) is None
    assert (record.paid_on, record.payment_recorded_on, record.exclusion_motive) == (PAID, PAID, "pagamento")
    assert record.registered_late is False


def test_registered_late_needs_both_dates():
    assert Negativation(removal_deadline=DEADLINE, payment_recorded_on=None).registered_late is False
    assert Negativation(removal_deadline=None, payment_recorded_on=DEADLINE).registered_late is False
    assert Negativation(removal_deadline=DEADLINE, payment_recorded_on=DEADLINE).registered_late is False
    assert Negativation(removal_deadline=DEADLINE,
                        payment_recorded_on=DEADLINE + timedelta(days=1)).registered_late is True


# --- records the sync asks SOA about, and the 5-year limit ------------------------------------------------


def test_records_reaching_five_years_are_marked_for_exclusion(ctx):
    agency, admin_id, creditor = ctx
    today = local_today(agency.timezone)
    due_today, due_tomorrow, requested = (_sent(agency, admin_id, creditor)[1] for _ in range(3))
    sent = _sent(agency, admin_id, creditor, S.SENT)[1]
    due_today.expires_on, sent.expires_on = today, today - timedelta(days=1)
    due_tomorrow.expires_on = today + timedelta(days=1)
    requested.expires_on, requested.status = today, S.EXCLUSION_REQUESTED
    paid = _sent(agency, admin_id, creditor)[1]
    paid.expires_on, paid.exclusion_motive = today, "pagamento"
    other = f.make_agency()
    foreign = Negativation.for_debt(_debt(other, f.make_creditor(other)), None, "1")
    foreign.status, foreign.unique_id, foreign.expires_on = S.ACTIVE, "outra-1", today
    db.session.add(foreign)
    db.session.commit()
    picked = svc.records_to_sync(agency, limit=50)
    assert foreign.exclusion_motive is None  # another agency's record is its own sync's business
    assert (due_today.exclusion_motive, sent.exclusion_motive) == ("prazo_5_anos", "prazo_5_anos")
    assert _events(due_today)[-1] == (S.ACTIVE, S.ACTIVE,
                                      "Prazo de 5 anos atingido: baixa obrigatória (CDC art. 43 §1º).")
    assert due_today.events[-1].actor_id is None
    assert (due_tomorrow.exclusion_motive, requested.exclusion_motive, paid.exclusion_motive) == (
        None, None, "pagamento")
    assert {r.id for r in picked} == {due_today.id, sent.id, requested.id, paid.id}


def test_sync_picks_in_flight_and_due_records_of_the_agency_never_checked_first(ctx, app):
    agency, admin_id, creditor = ctx
    records = {state: _sent(agency, admin_id, creditor, state)[1]
               for state in (S.SENT, S.UNCERTAIN, S.EXCLUSION_REQUESTED, S.ACTIVE, S.PENDING, S.ERROR,
                             S.REJECTED, S.EXCLUDED)}
    due_uncertain = records[S.UNCERTAIN]
    due_uncertain.exclusion_motive = "pagamento"
    records[S.SENT].last_checked_at = records[S.SENT].created_at - timedelta(days=1)
    records[S.EXCLUSION_REQUESTED].last_checked_at = records[S.SENT].created_at - timedelta(days=2)
    other = f.make_agency(serasa_enabled=True)
    other_debt = _debt(other, f.make_creditor(other))
    foreign = Negativation.for_debt(other_debt, None, "1")
    foreign.status = S.SENT
    db.session.add(foreign)
    db.session.commit()
    picked = svc.records_to_sync(agency, limit=50)
    assert [r.id for r in picked] == [records[S.UNCERTAIN].id, records[S.EXCLUSION_REQUESTED].id,
                                      records[S.SENT].id]
    assert [r.id for r in svc.records_to_sync(agency, limit=1)] == [records[S.UNCERTAIN].id]
    records[S.ACTIVE].exclusion_motive = "acordo"  # paid, still at the bureau: due
    db.session.commit()
    assert records[S.ACTIVE].id in {r.id for r in svc.records_to_sync(agency, limit=50)}


def test_a_debt_row_is_what_the_record_snapshots(ctx):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    [outcome] = _include(agency, admin_id, [debt]).outcomes
    assert db.session.get(Debt, debt.id) is outcome.negativation.debt
    assert db.session.get(Agency, agency.id).soa_balance is not None


# --- what the debt lists read: the latest record, the live ones ------------------------------------------------


def _record(agency, admin_id, debt, state):
    record = Negativation.for_debt(debt, admin_id, "1")
    record.status = state
    db.session.add(record)
    db.session.flush()
    return record


def test_a_debt_reads_as_its_latest_record(ctx):
    agency, admin_id, creditor = ctx
    twice, once, never = (_debt(agency, creditor) for _ in range(3))
    _record(agency, admin_id, twice, S.REJECTED)
    newest = _record(agency, admin_id, twice, S.ACTIVE)
    only = _record(agency, admin_id, once, S.EXCLUDED)
    db.session.commit()
    # an update of the older record stores it after the newer one on PostgreSQL: the newest must still win
    db.session.execute(update(Negativation).where(Negativation.debt_id == twice.id, Negativation.id != newest.id)
                       .values(soa_message="rejeitada"))
    db.session.commit()
    latest = latest_by_debt(d.id for d in (twice, once, never))  # any iterable of ids
    assert latest == {twice.id: newest, once.id: only}
    assert latest_by_debt([]) == {} and latest_by_debt([never.id]) == {}
    # the filter of Dívidas: each option holds the debts whose latest record is in one of its states
    found = {option: set(db.session.scalars(db.select(Debt.id).where(
        Debt.id.in_([twice.id, once.id, never.id]), serasa_filter_clause(Debt.id, option))))
        for option in DEBT_SERASA_FILTER}
    assert found == {"nao_negativada": {never.id}, "enviada": set(), "ativa": {twice.id}, "em_baixa": set(),
                     "baixada": {once.id}, "rejeitada": set(), "erro": set(), "incerta": set()}


@pytest.mark.parametrize("state", list(S))
def test_each_state_falls_under_one_filter_option(ctx, state):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    _record(agency, admin_id, debt, state)
    db.session.commit()
    options = {o for o in DEBT_SERASA_FILTER
               if db.session.scalar(db.select(Debt.id).where(Debt.id == debt.id, serasa_filter_clause(Debt.id, o)))}
    assert options == {{S.PENDING: "enviada", S.SENT: "enviada", S.ACTIVE: "ativa", S.EXCLUSION_REQUESTED: "em_baixa",
                        S.EXCLUDED: "baixada", S.REJECTED: "rejeitada", S.ERROR: "erro",
                        S.UNCERTAIN: "incerta"}[state]}


def test_live_records_are_the_agencys_open_ones(ctx):
    agency, admin_id, creditor = ctx
    assert (live_records(agency.id), has_live_records(agency.id)) == (0, False)
    for state in (S.REJECTED, S.EXCLUDED):  # no longer at the bureau
        _record(agency, admin_id, _debt(agency, creditor), state)
    other = f.make_agency()
    _record(other, None, _debt(other, f.make_creditor(other)), S.ACTIVE)
    db.session.commit()
    assert (live_records(agency.id), has_live_records(agency.id)) == (0, False)
    assert (live_records(other.id), has_live_records(other.id)) == (1, True)
    for state in (S.PENDING, S.SENT, S.ACTIVE, S.ERROR, S.UNCERTAIN, S.EXCLUSION_REQUESTED):
        _record(agency, admin_id, _debt(agency, creditor), state)
        db.session.commit()
        assert has_live_records(agency.id) is True
    assert live_records(agency.id) == 6


# --- the preview before "Negativar no Serasa" ---------------------------------------------------------------


def test_the_preview_tells_what_each_debt_will_become(ctx, soa):
    agency, admin_id, creditor = ctx
    fresh, retried, in_flight, again, paid = (_debt(agency, creditor) for _ in range(5))
    failed = _record(agency, admin_id, retried, S.ERROR)
    active = _record(agency, admin_id, in_flight, S.ACTIVE)
    rejected = _record(agency, admin_id, again, S.REJECTED)
    paid.status, paid.paid_at = "paga", datetime(2026, 11, 2, 12, 0)
    db.session.commit()
    preview = svc.preview_inclusion(agency, [fresh, retried, in_flight, again, paid], admin_id)
    assert [(r.debt.id, r.state, r.record) for r in preview.rows] == [
        (fresh.id, "ok", None), (retried.id, "retry", failed), (in_flight.id, "in_flight", active),
        (again.id, "ok", rejected), (paid.id, "problems", None)]
    assert preview.rows[4].problems == ["a dívida está paga"]
    assert preview.rows[2].problems == []
    assert (preview.to_send, preview.cost, preview.balance_error) == (3, Decimal("0"), None)
    assert preview.balance == Decimal("100.00") == db.session.get(Agency, agency.id).soa_balance
    assert agency.soa_balance_checked_at is not None
    assert _soa_calls("balance") == [(agency.id, admin_id)]
    assert soa.snapshot()["calls"].get("include") is None  # nothing is sent by a preview


@pytest.mark.parametrize("balance,fits", [("29.99", 2), ("30.00", 3), ("0", 0)])
def test_the_preview_sends_only_what_the_balance_pays_for(ctx, soa, app, monkeypatch, balance, fits):
    agency, admin_id, creditor = ctx
    monkeypatch.setitem(app.config, "SOA_INCLUSION_COST", "10")
    soa.set_balance(DEFAULT_EMAIL, Decimal(balance))
    debts = [_debt(agency, creditor) for _ in range(3)]
    retried = _debt(agency, creditor)
    _record(agency, admin_id, retried, S.ERROR)
    db.session.commit()
    preview = svc.preview_inclusion(agency, [debts[0], retried, debts[1], debts[2]], admin_id)
    states = ["ok", "retry", "ok", "ok"][:fits] + ["no_balance"] * (4 - fits)
    assert [r.state for r in preview.rows] == states  # the first ones in the list go
    assert (preview.cost, preview.balance, preview.to_send) == (Decimal("10"), Decimal(balance), fits)


def test_a_cost_under_one_real_still_limits_what_is_sent(ctx, soa, app, monkeypatch):
    agency, admin_id, creditor = ctx
    monkeypatch.setitem(app.config, "SOA_INCLUSION_COST", "0.40")
    soa.set_balance(DEFAULT_EMAIL, Decimal("1.00"))
    debts = [_debt(agency, creditor) for _ in range(3)]
    preview = svc.preview_inclusion(agency, debts, admin_id)
    assert [r.state for r in preview.rows] == ["ok", "ok", "no_balance"]  # 1.00 pays for two at 0.40


@pytest.mark.parametrize("cost", ["", None, "missing"])
def test_without_an_inclusion_cost_the_plan_is_postpaid(ctx, soa, app, monkeypatch, cost):
    agency, admin_id, creditor = ctx
    if cost == "missing":
        monkeypatch.delitem(app.config, "SOA_INCLUSION_COST")
    else:
        monkeypatch.setitem(app.config, "SOA_INCLUSION_COST", cost)
    soa.set_balance(DEFAULT_EMAIL, Decimal("0"))
    preview = svc.preview_inclusion(agency, [_debt(agency, creditor)], admin_id)
    assert (preview.cost, preview.balance, [r.state for r in preview.rows]) == (Decimal("0"), Decimal("0"), ["ok"])


def test_a_preview_with_nothing_to_send_asks_soa_nothing(ctx, soa):
    agency, admin_id, creditor = ctx
    debt = _debt(agency, creditor)
    _record(agency, admin_id, debt, S.SENT)
    db.session.commit()
    preview = svc.preview_inclusion(agency, [debt], admin_id)
    assert [r.state for r in preview.rows] == ["in_flight"]
    assert (preview.balance, preview.balance_error, preview.to_send) == (None, None, 0)
    assert soa.snapshot()["calls"].get("balance") is None


def test_a_preview_without_the_balance_says_why_and_still_lists_the_debts(ctx, soa, app, monkeypatch):
    agency, admin_id, creditor = ctx
    monkeypatch.setitem(app.config, "SOA_INCLUSION_COST", "10")
    debt = _debt(agency, creditor)
    soa.set_fault("balance", Fault(status_5xx=True))
    preview = svc.preview_inclusion(agency, [debt], admin_id)
    assert preview.balance is None and preview.balance_error
    assert [r.state for r in preview.rows] == ["ok"]  # not refused for a balance nobody could read
    soa.set_fault("balance", None)
    agency.serasa_enabled = False
    preview = svc.preview_inclusion(agency, [debt], admin_id)
    assert preview.balance_error == "A integração com o Serasa está desabilitada no Perfil da assessoria."


def test_records_are_loaded_by_id_skipping_blanks(ctx):
    agency, admin_id, creditor = ctx
    first, second = (_record(agency, admin_id, _debt(agency, creditor), S.ACTIVE) for _ in range(2))
    db.session.commit()
    assert svc.records_of([first.id, None, "", second.id, 0]) == {first.id: first, second.id: second}
    assert svc.records_of([None, ""]) == {} and svc.records_of([]) == {}
