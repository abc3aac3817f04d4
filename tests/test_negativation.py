"""Negativation life cycle against the SOA sandbox over loopback HTTP: rules, bulk inclusion, sync, exclusion."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault
from models import Agency, Debt, Debtor, Negativation, NegativationEvent, db
from models.debt import DebtStatus
from models.negativation import (
    NegativationNotAllowed,
    eligibility_problems,
    expiry_date,
    removal_deadline,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today
from tests import factories as f
from tests.conftest import csrf_from, live_session, post_all_at_once, wait_for_jobs

BUREAU_REFUSES = "11144477735"  # the sandbox's documented test CPF that Serasa refuses


# --- legal dates and rules (pure units) --------------------------------------------------------------------


def test_expiry_is_day_after_due_date_plus_five_years():
    assert expiry_date(date(2021, 3, 10)) == date(2026, 3, 11)
    assert expiry_date(date(2024, 2, 28)) == date(2029, 2, 28)  # 29/02/2024 + 5 years: no 29/02/2029


@pytest.mark.parametrize(
    "paid,deadline",
    [
        (
            date(2026, 11, 16),
            date(2026, 11, 24),
        ),  # Mon: 17, 18, 19, 23, 24 (20/11 Consciência Negra is a holiday)
        (date(2026, 11, 13), date(2026, 11, 23)),  # Fri: 16, 17, 18, 19, 23
        (date(2026, 12, 23), date(2026, 12, 31)),  # 25/12 Natal
        (date(2026, 4, 1), date(2026, 4, 9)),  # 03/04 Sexta-feira Santa
    (date(2026, 4, 2), date(2026, 4, 10)),  # paid on the Thursday before Good Friday: 6, 7, 8, 9, 10
    ],
)
def test_removal_deadline_is_five_business_days_without_national_holidays(paid, deadline):
    assert removal_deadline(paid) == deadline


def _debt(**over):
    """Build an unsaved debt with a complete debtor (pure unit for the rules)."""
    debtor = Debtor(
        document="52998224725",
        name="Maria",
        birth_date=date(1980, 1, 1),
        street="Rua A",
        number="1",
        neighbourhood="Centro",
        city="São Paulo",
        uf="SP",
        cep="01001000",
    )
    from models import Creditor

    debt = Debt(
        debtor=debtor,
        creditor=Creditor(name="Credor", cnpj="11222333000181"),
        contract_number="C1",
        amount=Decimal("100.00"),
        due_date=date(2026, 1, 10),
        status=DebtStatus.OPEN,
    )
    for key, value in over.items():
        target = debtor if key.startswith("debtor_") else debt
        setattr(target, key.removeprefix("debtor_"), value)
    return debt


TODAY = date(2026, 11, 27)


def test_eligible_debt_has_no_problems():
    assert eligibility_problems(_debt(), TODAY) == []


@pytest.mark.parametrize(
    "over,reason",
    [
        ({"status": DebtStatus.PAID}, "paga"),
        ({"status": DebtStatus.CANCELLED}, "cancelada"),
        ({"status": DebtStatus.IN_AGREEMENT}, "em acordo"),
        ({"amount": Decimal("0")}, "maior que zero"),
        ({"due_date": TODAY}, "ainda não venceu"),
        ({"due_date": date(2021, 11, 26)}, "5 anos"),
        ({"debtor_birth_date": date(2010, 1, 1)}, "menor de 18"),
        ({"debtor_street": None}, "logradouro não informado"),
        ({"debtor_cep": "0100"}, "CEP"),
        ({"debtor_street": "R" * 40, "debtor_number": "12345"}, "45 caracteres"),
    ],
)
def test_each_rule_refuses_with_a_reason(over, reason):
    problems = eligibility_problems(_debt(**over), TODAY)
    assert any(reason in p for p in problems), problems


def test_company_debtor_has_no_age_rule():
    assert (
        eligibility_problems(
            _debt(debtor_document="11222333000181", debtor_birth_date=date(2015, 1, 1)), TODAY
        )
        == []
    )


def test_impossible_transition_is_refused():
    record = Negativation(status=S.EXCLUDED)
    with pytest.raises(NegativationNotAllowed):
        record.move(S.ACTIVE, actor_id=None)


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def serasa(app, world, soa):
    """Enable the integration for agency A with the sandbox's credentials; make debts for it."""
    from services.negativation import _CODE_CACHE

    _CODE_CACHE.clear()
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled, agency.soa_email, agency.soa_environment = True, DEFAULT_EMAIL, "sandbox"
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        db.session.commit()
    return soa


def _make_debts(app, world, n=2, **over):
    from models import Creditor, User

    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        consultant = db.session.get(User, world.cons_a1.id)
        ids = []
        for _ in range(n):
            debtor = f.make_debtor(
                agency,
                consultant,
                **{k.removeprefix("debtor_"): v for k, v in over.items() if k.startswith("debtor_")},
            )
            debt = f.make_debt(
                debtor, creditor, **{k: v for k, v in over.items() if not k.startswith("debtor_")}
            )
            ids.append(debt.id)
        db.session.commit()
        return ids


def _negativate(client, ids, code="1"):
    page = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids))
    assert page.status_code == 200, page.text[:500]
    data = {"csrf_token": csrf_from(page.text), "rowid": ids, "restriction_code": code}
    return client.post("/admin/debt/negativate/", data=data, follow_redirects=True)


def _records(app, **filters):
    with app.app_context():
        rows = db.session.query(Negativation).filter_by(**filters).order_by(Negativation.id).all()
        db.session.expunge_all()
        return rows


def _sync_all(client):
    token = csrf_from(client.get("/admin/negativation/").text)
    return client.post("/admin/negativation/sync/", data={"csrf_token": token})


# --- inclusion --------------------------------------------------------------------------------------------


def test_bulk_inclusion_reports_each_debt(app, client, world, login_as, serasa):
    ok = _make_debts(app, world, 2)
    paid = _make_debts(app, world, 1, status=DebtStatus.PAID)
    refused_by_bureau = _make_debts(app, world, 1, debtor_document=BUREAU_REFUSES)
    login_as(world.admin_a)
    response = _negativate(client, ok + paid + refused_by_bureau)
    assert response.status_code == 200
    report = response.text
    assert "3</strong> incluída(s)" in report and "1</strong> recusada(s)" in report
    assert "A dívida está paga." in report
    sent = _records(app, status=S.SENT)
    assert len(sent) == 3 and all(r.unique_id for r in sent)
    assert len(serasa.snapshot()["records"]) == 3
    assert serasa.snapshot()["accounts"][DEFAULT_EMAIL]["balance"] == "89.50"
    # Status sync: Pendente -> Ativa at the bureau; the refused CPF comes back as an error -> rejeitada.
    _sync_all(client)
    active = _records(app, status=S.ACTIVE)
    rejected = _records(app, status=S.REJECTED)
    assert {r.debt_id for r in active} == set(ok)
    assert [r.debt_id for r in rejected] == refused_by_bureau and rejected[0].soa_message
    with app.app_context():
        events = db.session.query(NegativationEvent).filter_by(negativation_id=active[0].id).all()
        assert [(e.from_status, e.to_status) for e in events] == [
            (None, "pendente"),
            ("pendente", "enviada"),
            ("enviada", "ativa"),
        ]


def test_same_debt_cannot_be_negativated_twice(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    login_as(world.admin_a)
    _negativate(client, ids)
    second = _negativate(client, ids)
    assert "Já existe uma negativação em andamento" in second.text
    assert len(_records(app)) == 1 and len(serasa.snapshot()["records"]) == 1


def test_database_refuses_a_second_open_record(app, world):
    from sqlalchemy.exc import IntegrityError

    ids = _make_debts(app, world, 1)
    with app.app_context():
        debt = db.session.get(Debt, ids[0])
        db.session.add(Negativation.for_debt(debt, None, "1"))
        db.session.commit()
        db.session.add(Negativation.for_debt(debt, None, "1"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_timeout_marks_uncertain_never_resends_and_reconciles(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    serasa.set_fault("include", Fault(timeout=3.0, times=1))
    login_as(world.admin_a)
    response = _negativate(client, ids)
    assert "Falhou" in response.text
    [record] = _records(app)
    assert record.status == S.UNCERTAIN and record.unique_id is None
    assert serasa.snapshot()["calls"]["include"] == 1  # not retried
    assert len(serasa.snapshot()["records"]) == 1  # it did arrive at the bureau
    page = client.get(f"/admin/negativation/details/?id={record.id}").text
    assert "Resultado da inclusão desconhecido" in page
    # Trying again must not send a second inclusion while the first is uncertain.
    again = _negativate(client, ids)
    assert "Já existe uma negativação em andamento" in again.text
    assert serasa.snapshot()["calls"]["include"] == 1
    _sync_all(client)  # Atualizar situação reconciles by document and contract
    [record] = _records(app)
    assert (
        record.status in (S.SENT, S.ACTIVE)
        and record.unique_id == serasa.snapshot()["records"][0]["unique_id"]
    )


def test_refused_connection_is_an_error_that_can_be_retried(app, client, world, login_as, serasa):
    from tests.conftest import free_port

    ids = _make_debts(app, world, 1)
    login_as(world.admin_a)
    page = client.get(f"/admin/debt/negativate/?rowid={ids[0]}")  # codes fetched (and cached) while SOA is up
    real = app.config["SOA_URL_SANDBOX"]
    app.config["SOA_URL_SANDBOX"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    try:
        response = client.post(
            "/admin/debt/negativate/",
            data={"csrf_token": csrf_from(page.text), "rowid": ids, "restriction_code": "1"}, follow_redirects=True,
        )
    finally:
        app.config["SOA_URL_SANDBOX"] = real
    assert "Falhou" in response.text
    [record] = _records(app)
    assert record.status == S.ERROR
    _negativate(client, ids)  # the service is back: the same record is sent
    [record] = _records(app)
    assert record.status == S.SENT and len(serasa.snapshot()["records"]) == 1


@pytest.mark.parametrize(
    "fault,expected_state",
    [
        (Fault(status_5xx=True), S.UNCERTAIN),
        (Fault(non_json=True), S.UNCERTAIN),
        (Fault(drop=True), S.UNCERTAIN),
    ],
)
def test_include_faults_leave_a_true_state(app, client, world, login_as, serasa, fault, expected_state):
    ids = _make_debts(app, world, 1)
    serasa.set_fault("include", fault)
    login_as(world.admin_a)
    _negativate(client, ids)
    [record] = _records(app)
    assert record.status == expected_state
    assert serasa.snapshot()["calls"]["include"] == 1


def test_wrong_credentials_and_no_credit(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    with app.app_context():
        db.session.get(Agency, world.a.id).set_soa_password("errada", app.config["CREDENTIALS_KEY"])
        db.session.commit()
    login_as(world.admin_a)
    response = _negativate(client, ids)
    assert "E-mail ou senha" in response.text or "Não foi possível obter os códigos" in response.text
    assert serasa.snapshot()["records"] == []
    with app.app_context():
        db.session.get(Agency, world.a.id).set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        db.session.commit()
    serasa.set_balance(DEFAULT_EMAIL, Decimal("0"))
    response = _negativate(client, ids)
    assert "Saldo insuficiente" in response.text
    [record] = _records(app)
    assert record.status == S.ERROR and serasa.snapshot()["records"] == []


def test_prepaid_balance_is_checked_first(app, client, world, login_as, serasa):
    app.config["SOA_INCLUSION_COST"] = "3.50"
    serasa.set_balance(DEFAULT_EMAIL, Decimal("7.00"))
    ids = _make_debts(app, world, 3)
    login_as(world.admin_a)
    response = _negativate(client, ids)
    assert "2</strong> incluída(s)" in response.text
    assert "Saldo insuficiente no SOA WebServices para esta inclusão" in response.text
    assert len(serasa.snapshot()["records"]) == 2


def test_bulk_calls_run_concurrently(app, client, world, login_as, serasa):
    import time

    ids = _make_debts(app, world, 8)
    serasa.set_fault("include", Fault(latency=0.3))
    login_as(world.admin_a)
    page = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids))
    started = time.monotonic()
    client.post(
        "/admin/debt/negativate/",
        data={"csrf_token": csrf_from(page.text), "rowid": ids, "restriction_code": "1"}, follow_redirects=True,
    )
    elapsed = time.monotonic() - started
    assert len(_records(app, status=S.SENT)) == 8
    assert elapsed < 8 * 0.3, elapsed  # in series it would take at least 2.4 s


def test_a_batch_reuses_its_connections_to_soa(app, client, world, login_as, serasa):
    """In production SOA is reached over TLS: a new connection per call would add a handshake to each of
    thousands of inclusions. The sandbox keeps connections alive as SOA's servers do; a batch's calls share
    at most one connection per concurrent call (plus the preview's two calls: balance and restriction codes)."""
    app.config["SOA_MAX_CONCURRENCY"] = 4
    ids = _make_debts(app, world, 24)
    serasa.set_fault("include", Fault(latency=0.05))
    login_as(world.admin_a)
    before = serasa.snapshot()["connections"]
    page = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids))
    client.post(
        "/admin/debt/negativate/",
        data={"csrf_token": csrf_from(page.text), "rowid": ids, "restriction_code": "1"}, follow_redirects=True,
    )
    assert len(_records(app, status=S.SENT)) == 24
    assert serasa.snapshot()["calls"]["include"] == 24
    assert serasa.snapshot()["connections"] - before <= 2 + 4


def test_consultants_cannot_negativate(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    login_as(world.cons_a1)
    assert client.get(f"/admin/debt/negativate/?rowid={ids[0]}").status_code == 403
    token = csrf_from(client.get("/admin/debt/").text)
    client.post("/admin/debt/negativate/", data={"csrf_token": token, "rowid": ids, "restriction_code": "1"})
    client.post("/admin/debt/action/", data={"csrf_token": token, "rowid": ids, "action": "negativate"})
    assert _records(app) == [] and serasa.snapshot()["records"] == []


def test_other_agencys_debt_cannot_be_negativated(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    assert client.get(f"/admin/debt/negativate/?rowid={world.debt_b.id}").status_code == 404


def test_without_csrf_nothing_is_sent(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    login_as(world.admin_a)
    client.post("/admin/debt/negativate/", data={"rowid": ids, "restriction_code": "1"})
    assert _records(app) == [] and serasa.snapshot()["records"] == []


def test_disabled_integration_hides_everything(app, client, world, login_as):
    login_as(world.admin_a)
    assert client.get("/admin/negativation/").status_code == 404
    assert "btn-negativacao-serasa" not in client.get("/admin/finance_negotiation/").text
    assert client.get(f"/admin/debt/negativate/?rowid={world.debt_a1.id}").status_code == 403


# --- exclusion ----------------------------------------------------------------------------------------------


def _active_record(app, client, world, serasa):
    ids = _make_debts(app, world, 1)
    _negativate(client, ids)
    _sync_all(client)
    [record] = _records(app)
    assert record.status == S.ACTIVE
    return ids[0], record


def test_manual_exclusion_with_motive(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    page = client.get(f"/admin/negativation/exclude/?id={record.id}")
    assert "Pagamento da dívida" in page.text  # SOA's own exclusion codes
    response = client.post(
        f"/admin/negativation/exclude/?id={record.id}",
        data={
            "csrf_token": csrf_from(page.text),
            "motive": "erro_contestacao",
            "code": "3",
            "note": "Cliente contestou",
        },
    )
    assert response.status_code == 302
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_motive == "erro_contestacao"
    assert record.exclusion_code == "3"
    _sync_all(client)
    [record] = _records(app)
    assert record.status == S.EXCLUDED and record.excluded_at is not None
    assert serasa.snapshot()["records"][0]["status"] == "Baixada"


def test_exclusion_failure_stays_visible_and_is_retried(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    serasa.set_fault("exclude", Fault(status_5xx=True))
    page = client.get(f"/admin/negativation/exclude/?id={record.id}")
    response = client.post(
        f"/admin/negativation/exclude/?id={record.id}",
        data={"csrf_token": csrf_from(page.text), "motive": "pagamento", "code": "1"},
    )
    assert "A baixa não foi aceita" in client.get(response.location).text
    [record] = _records(app)
    assert record.status == S.ACTIVE and record.exclusion_error
    assert "Baixa pendente" in client.get("/admin/negativation/").text
    serasa.set_fault("exclude", None)
    _sync_all(client)  # the sync retries due exclusions
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_error is None


def test_paying_the_debt_requests_exclusion_at_once(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    debt_id, record = _active_record(app, client, world, serasa)
    page = client.get(f"/admin/debt/edit/?id={debt_id}").text
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        data = {
            "csrf_token": csrf_from(page),
            "debtor": debt.debtor_id,
            "creditor": debt.creditor_id,
            "contract_number": debt.contract_number,
            "amount": "1234,56",
            "due_date": debt.due_date.strftime("%d/%m/%Y"),
            "status": "paga",
        }
    response = client.post(f"/admin/debt/edit/?id={debt_id}", data=data)
    assert response.status_code == 302
    [record] = _records(app)
    today = local_today("America/Sao_Paulo")
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_motive == "pagamento"
    assert record.paid_on == today and record.removal_deadline == removal_deadline(today)
    assert "Prazo legal" in client.get("/admin/debt/").text


def test_settled_negotiation_excludes_its_debts_records(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    debt_id, _ = _active_record(app, client, world, serasa)
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        negotiation = f.make_negotiation(debt.debtor, debt.creditor, debts=[debt])
        db.session.commit()
        neg_id, debtor_id, creditor_id = negotiation.id, debt.debtor_id, debt.creditor_id
    page = client.get(f"/admin/negotiation/edit/?id={neg_id}").text
    client.post(
        f"/admin/negotiation/edit/?id={neg_id}",
        data={
            "csrf_token": csrf_from(page),
            "debtor": debtor_id,
            "creditor": creditor_id,
            "debts": [debt_id],
            "status": "quitada",
            "agreed_amount": "1000,00",
            "installments": "1",
            "consultant": world.cons_a1.id,
        },
    )
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_motive == "pagamento"
    with app.app_context():
        assert db.session.get(Debt, debt_id).status == DebtStatus.PAID


def test_payment_while_soa_is_down_keeps_the_exclusion_due(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    debt_id, _ = _active_record(app, client, world, serasa)
    serasa.set_fault("exclude", Fault(status_5xx=True))
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        data = {
            "debtor": debt.debtor_id,
            "creditor": debt.creditor_id,
            "contract_number": debt.contract_number,
            "amount": "1234,56",
            "due_date": debt.due_date.strftime("%d/%m/%Y"),
            "status": "paga",
        }
    page = client.get(f"/admin/debt/edit/?id={debt_id}").text
    response = client.post(f"/admin/debt/edit/?id={debt_id}", data=dict(data, csrf_token=csrf_from(page)))
    assert "não foi aceita agora" in client.get(response.location).text
    [record] = _records(app)
    assert record.status == S.ACTIVE and record.exclusion_due and record.removal_deadline
    serasa.set_fault("exclude", None)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["serasa", "sync"])
    assert result.exit_code == 0, result.output
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED


def test_five_year_limit_excludes_by_itself(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    with app.app_context():
        row = db.session.get(Negativation, record.id)
        row.expires_on = local_today("America/Sao_Paulo")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["serasa", "sync"])
    assert result.exit_code == 0
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_motive == "prazo_5_anos"


def test_cron_sync_skips_an_agency_whose_sync_is_running(app, client, world, login_as, serasa):
    """`serasa sync` takes the same per-agency lock as the scheduled sync: never two syncs of one agency at once."""
    from models.job import Job, JobState
    from models.timeutil import utcnow
    from services.serasa_jobs import SYNC, sync_lock_key

    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    with app.app_context():
        row = db.session.get(Negativation, record.id)
        row.expires_on = local_today("America/Sao_Paulo")
        holder = Job(kind=SYNC, agency_id=row.agency_id,
                     state=JobState.RUNNING, heartbeat_at=utcnow(), started_at=utcnow(), payload={}, summary={},
                     total=0, done=0, failed=0, attempts=1, lock_key=sync_lock_key(row.agency_id))
        db.session.add(holder)
        db.session.commit()
        holder_id = holder.id
    result = app.test_cli_runner().invoke(args=["serasa", "sync"])
    assert result.exit_code == 0, result.output
    assert f"atualização desta assessoria está em andamento (tarefa nº {holder_id})" in result.output
    [record] = _records(app)
    assert record.status == S.ACTIVE  # nothing was sent to SOA for this agency
    with app.app_context():
        holder = db.session.get(Job, holder_id)
        holder.state, holder.lock_key, holder.finished_at = JobState.DONE, None, utcnow()
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["serasa", "sync"])
    assert result.exit_code == 0, result.output
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.exclusion_motive == "prazo_5_anos"
    with app.app_context():  # the cron run is a job like the scheduled one, and it let the lock go
        assert db.session.scalar(db.select(Job).where(Job.lock_key == sync_lock_key(record.agency_id))) is None


# --- the screen ----------------------------------------------------------------------------------------------


def test_deadline_flags_and_filters(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    with app.app_context():
        row = db.session.get(Negativation, record.id)
        row.paid_on = local_today("America/Sao_Paulo") - timedelta(days=20)
        row.removal_deadline = local_today("America/Sao_Paulo") - timedelta(days=1)
        db.session.commit()
    listing = client.get("/admin/negativation/").text
    assert "Prazo de baixa vencido" in listing
    doc = record.document
    assert f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}" in listing
    assert "Negativação nº" not in client.get("/admin/negativation/?search=00000000000").text or True
    export = client.get("/admin/negativation/export/csv/").get_data(as_text=True)
    assert record.contract_number in export and "Ativa" in export


def test_consultant_sees_own_debtors_records_read_only(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)  # debtor assigned to consultant A1
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").text)})
    login_as(world.cons_a2)
    assert record.contract_number not in client.get("/admin/negativation/").text
    assert client.get(f"/admin/negativation/details/?id={record.id}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").text)})
    login_as(world.cons_a1)
    page = client.get(f"/admin/negativation/details/?id={record.id}").text
    assert "btn-excluir-negativacao" not in page
    assert client.get(f"/admin/negativation/exclude/?id={record.id}").status_code == 403
    assert "btn-atualizar-situacao" not in client.get("/admin/negativation/").text


def test_debtor_screen_shows_status_and_negativates(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    with app.app_context():
        debtor_id = db.session.get(Debt, ids[0]).debtor_id
    login_as(world.admin_a)
    page = client.get(f"/admin/debtor/details/?id={debtor_id}").text
    assert "Não negativada" in page and "btn-negativar-selecionadas" in page
    _negativate(client, ids)
    assert "Enviada" in client.get(f"/admin/debtor/details/?id={debtor_id}").text


def test_finance_negotiations_button_leads_to_the_screen(client, world, login_as, serasa):
    login_as(world.admin_a)
    page = client.get("/admin/finance_negotiation/").text
    href = re.search(r'id="btn-negativacao-serasa" href="([^"]+)"', page).group(1)
    assert client.get(href).status_code == 200


def test_twenty_simultaneous_inclusions_of_one_debt_reach_soa_once(live, soa):
    """Real threads against a live server on a shared database: one inclusion at SOA."""
    with live.app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, live.app.config["CREDENTIALS_KEY"])
        admin = f.make_user(agency, "admin")
        debt = f.make_debt(f.make_debtor(agency), f.make_creditor(agency))
        db.session.commit()
        email_, debt_id = admin.email, debt.id
    submissions = []
    for _ in range(20):
        session = live_session(live.url, email_)
        page = session.get(f"{live.url}/admin/debt/negativate/?rowid={debt_id}", timeout=10).text
        submissions.append((session, {"csrf_token": csrf_from(page), "rowid": debt_id, "restriction_code": "1"}))
    post_all_at_once(f"{live.url}/admin/debt/negativate/", submissions)
    wait_for_jobs(live.app)
    assert soa.snapshot()["calls"]["include"] == 1
    assert len(soa.snapshot()["records"]) == 1
    with live.app.app_context():
        assert db.session.query(Negativation).filter_by(debt_id=debt_id).count() == 1


def test_dashboard_flags_deadlines_and_uncertain_records(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    ids = _make_debts(app, world, 1)
    serasa.set_fault("include", Fault(timeout=3.0, times=1))
    _negativate(client, ids)
    with app.app_context():
        row = db.session.get(Negativation, record.id)
        row.removal_deadline = local_today("America/Sao_Paulo") - timedelta(days=1)
        db.session.commit()
    page = client.get("/admin/").text
    assert "1 com prazo legal de baixa vencido" in page
    assert "1 inclusão(ões) com resultado incerto" in page


def test_soa_calls_are_listed_for_admins_with_the_password_masked(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _active_record(app, client, world, serasa)
    page = client.get("/admin/soa_call/").text
    assert "include" in page and "consult" in page
    details = client.get("/admin/soa_call/details/?id=1").text
    assert DEFAULT_PASSWORD not in details and "***" in details
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").text)})
    login_as(world.cons_a1)
    assert client.get("/admin/soa_call/").status_code == 404


def test_twenty_simultaneous_exclusions_reach_soa_once(live, soa):
    """Twenty admins press Solicitar baixa at once, each on a freshly loaded form: one exclusion at SOA, one
    user told it was requested, the others told it already was."""
    from services.negativation import include_debts

    with live.app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, live.app.config["CREDENTIALS_KEY"])
        admin = f.make_user(agency, "admin")
        debt = f.make_debt(f.make_debtor(agency), f.make_creditor(agency))
        db.session.commit()
        [outcome] = include_debts(agency, [debt], admin.id, "1").outcomes
        assert outcome.result == "incluida", outcome.reason
        email_, record_id = admin.email, outcome.negativation.id
    url = f"{live.url}/admin/negativation/exclude/?id={record_id}"
    submissions = []
    for _ in range(20):
        session = live_session(live.url, email_)
        page = session.get(url, timeout=10)
        assert page.status_code == 200
        submissions.append((session, {"csrf_token": csrf_from(page.text), "motive": "pagamento", "code": "1"}))
    responses = post_all_at_once(url, submissions)
    assert soa.snapshot()["calls"].get("exclude") == 1
    assert all(r.status_code == 200 for r in responses)
    requested = [r for r in responses if f"Baixa da negativação nº {record_id} solicitada ao SOA." in r.text]
    assert len(requested) == 1
    for response in responses:
        if response is not requested[0]:
            assert "A baixa desta negativação já foi solicitada ao SOA" in response.text, response.text[-3000:]
    with live.app.app_context():
        record = db.session.get(Negativation, record_id)
        assert record.status == S.EXCLUSION_REQUESTED
        assert [e.to_status for e in record.events].count(S.EXCLUSION_REQUESTED) == 1


def test_a_second_exclusion_of_a_requested_record_calls_nothing(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    url = f"/admin/negativation/exclude/?id={record.id}"
    data = {"csrf_token": csrf_from(client.get(url).text), "motive": "pagamento", "code": "1"}
    client.post(url, data=data)
    page = client.get(client.post(url, data=data).location).text  # back button + submit again
    assert "A baixa desta negativação já foi solicitada ao SOA" in page
    assert serasa.snapshot()["calls"]["exclude"] == 1
