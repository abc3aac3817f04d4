"""Test the SOA WebServices client against the SOA sandbox over real loopback HTTP."""

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from app import Config
from devtools import soa_sandbox
from devtools.soa_sandbox import (
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    INCLUSION_COST,
    Fault,
    SandboxServer,
)
from integrations import serasa
from integrations.serasa import (
    BureauStatus,
    CallRecord,
    Code,
    InclusionRequest,
    SerasaBadCredentials,
    SerasaClient,
    SerasaError,
    SerasaMalformed,
    SerasaNoCredit,
    SerasaRefused,
    SerasaTimeout,
    SerasaUnavailable,
)
from integrations.soa_api import BASE_URLS, PATHS

PASSWORD = DEFAULT_PASSWORD
READ_TIMEOUT = 0.3
ClientFactory = Callable[..., SerasaClient]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def calls() -> list[CallRecord]:
    return []


@pytest.fixture
def make_client(sandbox: SandboxServer, calls: list[CallRecord]) -> Iterator[ClientFactory]:
    sessions: list[requests.Session] = []

    def make(**overrides: object) -> SerasaClient:
        session = requests.Session()
        session.trust_env = False  # never route loopback calls through a proxy from the environment
        sessions.append(session)
        options: dict = {
            "timeout": (0.5, READ_TIMEOUT),
            "recorder": calls.append,
            "backoff": 0.01,
            "session": session,
        }
        options.update(overrides)
        base_url = options.pop("base_url", sandbox.url)
        email = options.pop("email", DEFAULT_EMAIL)
        password = options.pop("password", PASSWORD)
        return SerasaClient(base_url, email, password, **options)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SerasaClient:
    return make_client()


def inclusion(**overrides: object) -> InclusionRequest:
    values: dict = {
        "document": "529.982.247-25",
        "name": "Maria da Silva",
        "birth_date": date(1980, 5, 17),
        "street": "Rua das Flores",
        "number": "100",
        "complement": "ap 12",
        "neighbourhood": "Centro",
        "city": "São Paulo",
        "uf": "sp",
        "cep": "01310-100",
        "restriction_code": "1",
        "contract": "CT-0001",
        "due_date": date.today() - timedelta(days=60),
        "amount": Decimal("150.5"),
        "creditor_document": "11.222.333/0001-81",
        "creditor_name": "Loja Exemplo Ltda",
    }
    values.update(overrides)
    return InclusionRequest(**values)


def free_closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------ happy paths


def test_balance_returns_decimal(client: SerasaClient) -> None:
    assert client.balance() == Decimal("100.00")


def test_codes_are_listed(client: SerasaClient) -> None:
    restriction = client.restriction_codes()
    exclusion = client.exclusion_codes()

    assert Code("1", "PEFIN - Outras operações") in restriction
    assert [c.code for c in exclusion] == ["1", "2", "3", "4", "5"]
    assert exclusion[0].description == "Pagamento da dívida"


def test_inclusion_body_follows_the_contract() -> None:
    body = inclusion().as_body()

    assert body["Devedor"]["Documento"] == "52998224725"
    assert body["Devedor"]["DataNascimento"] == "1980-05-17"
    assert body["Devedor"]["Endereco"] == {
        "Logradouro": "Rua das Flores",
        "Numero": "100",
        "Complemento": "ap 12",
        "Bairro": "Centro",
        "Cidade": "São Paulo",
        "UF": "SP",
        "CEP": "01310100",
    }
    assert body["Restricao"]["DataVencimento"] == (date.today() - timedelta(days=60)).isoformat()
    assert body["Credor"] == {"Documento": "11222333000181", "Nome": "Loja Exemplo Ltda"}
    # Valor travels as a JSON number with exactly two decimals.
    assert '"Valor":150.50' in serasa._encode_json(body)
    assert "DataNascimento" not in inclusion(birth_date=None).as_body()["Devedor"]


def test_include_returns_unique_id_and_records_the_call(
    client: SerasaClient, sandbox: SandboxServer, calls: list[CallRecord]
) -> None:
    unique_id = client.include(inclusion())

    record = sandbox.state.records[unique_id]
    assert record.status == "Pendente"
    assert record.amount == Decimal("150.50")
    [call] = calls
    assert call.operation == "include"
    assert call.url == sandbox.url + PATHS["include"]
    assert call.http_status == 200
    assert call.result == "ok"
    assert call.attempt == 1
    assert call.request_body["Credenciais"] == {"Email": DEFAULT_EMAIL, "Senha": "***"}
    assert call.request_body["Restricao"]["Valor"] == 150.5
    assert unique_id in call.response_text
    assert call.latency_ms >= 0


def test_balance_decreases_per_inclusion(client: SerasaClient) -> None:
    client.include(inclusion(contract="CT-1"))
    client.include(inclusion(contract="CT-2"))

    assert client.balance() == Decimal("100.00") - 2 * INCLUSION_COST


def test_consult_moves_pending_to_active_after_the_delay(
    client: SerasaClient, sandbox: SandboxServer
) -> None:
    sandbox.state.activation_delay = 0.2
    unique_id = client.include(inclusion())

    first = client.consult(unique_id)
    time.sleep(0.25)
    second = client.consult(unique_id)

    assert first.status == BureauStatus.PENDING
    assert first.included_at is None
    assert second.status == "Ativa"
    assert second.unique_id == unique_id
    assert isinstance(second.included_at, datetime)
    assert second.message == "Negativação incluída no Serasa."


@pytest.mark.parametrize("document", ["111.444.777-35", "11.444.777/0001-61"])
def test_refused_document_ends_in_error(client: SerasaClient, document: str) -> None:
    unique_id = client.include(inclusion(document=document))

    result = client.consult(unique_id)

    assert result.status == BureauStatus.ERROR
    assert result.message  # the bureau's reason, for the user
    assert result.included_at is None


def test_exclude_clears_the_record_and_can_be_repeated(client: SerasaClient) -> None:
    unique_id = client.include(inclusion())
    client.consult(unique_id)

    excluded_at = client.exclude(unique_id, "1", "Dívida paga")
    again = client.exclude(unique_id, 1, "Dívida paga")
    result = client.consult(unique_id)

    assert excluded_at is not None
    assert again == excluded_at
    assert result.status == BureauStatus.CLEARED
    assert result.excluded_at == datetime.fromisoformat(excluded_at)


def test_list_filters_by_condition(client: SerasaClient) -> None:
    active = client.include(inclusion(contract="CT-A"))
    refused = client.include(inclusion(contract="CT-E", document="11144477735"))
    client.list()  # the bureau decides on both
    cleared = client.include(inclusion(contract="CT-B"))
    client.exclude(cleared, "2", "Acordo")

    assert [r["UniqueID"] for r in client.list("Ativas")] == [active]
    assert [r["uniqueId"] for r in client.list("Erro")] == [refused]
    assert [r["UNIQUEID"] for r in client.list("Baixadas")] == [cleared]
    assert client.list("Pendentes") == []
    assert client.list("Ativas")[0]["Valor"] == Decimal("150.50")


def test_list_by_document_and_contract_finds_an_inclusion(client: SerasaClient) -> None:
    unique_id = client.include(inclusion(contract="CT-9"))
    client.include(inclusion(contract="CT-10"))

    found = client.list(document="529.982.247-25", contract="CT-9")

    assert [r["UniqueID"] for r in found] == [unique_id]


def test_environment_name_selects_the_base_url() -> None:
    client = SerasaClient("sandbox", DEFAULT_EMAIL, PASSWORD)
    try:
        assert client.base_url == BASE_URLS["sandbox"] == "http://127.0.0.1:5001"
        assert client.paths == PATHS
    finally:
        client.close()


def test_paths_can_be_overridden(make_client: ClientFactory) -> None:
    client = make_client(paths={"balance": "/api/v2/Administracao/SaldoNovo"})

    with pytest.raises(SerasaMalformed) as caught:
        client.balance()

    assert caught.value.http_status == 404
    assert caught.value.outcome_unknown is False
    assert client.restriction_codes()


# ------------------------------------------------------------------------------------- typed errors


def test_wrong_password_raises_bad_credentials(make_client: ClientFactory, calls: list[CallRecord]) -> None:
    client = make_client(password="senha-errada")

    with pytest.raises(SerasaBadCredentials) as caught:
        client.balance()

    assert "G000M000" in caught.value.message
    assert str(caught.value) == caught.value.message
    assert len(calls) == 1  # a business answer is never retried


def test_spent_balance_raises_no_credit(client: SerasaClient, sandbox: SandboxServer) -> None:
    sandbox.set_balance(DEFAULT_EMAIL, Decimal("5.00"))
    client.include(inclusion(contract="CT-1"))

    with pytest.raises(SerasaNoCredit) as caught:
        client.include(inclusion(contract="CT-2"))

    assert "sem saldo" in caught.value.message
    assert client.balance() == Decimal("1.50")
    assert len(sandbox.state.records) == 1


def test_invalid_document_raises_refused_with_soa_description(client: SerasaClient) -> None:
    with pytest.raises(SerasaRefused) as caught:
        client.include(inclusion(document="123.456.789-00"))

    assert caught.value.code == "G000M003"
    assert caught.value.description == "Documento do devedor invalido"
    assert "G000M003" in str(caught.value)
    assert "Documento do devedor invalido" in str(caught.value)
    assert caught.value.outcome_unknown is False


def test_missing_fields_are_refused(client: SerasaClient) -> None:
    with pytest.raises(SerasaRefused) as caught:
        client.include(inclusion(street="", cep=""))

    assert "Devedor.Endereco.Logradouro" in caught.value.description
    assert "Devedor.Endereco.CEP" in caught.value.description


def test_5xx_raises_unavailable(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.set_fault("balance", Fault(status_5xx=True))

    with pytest.raises(SerasaUnavailable) as caught:
        make_client(max_retries=0).balance()

    assert caught.value.http_status == 503
    assert "indisponível" in caught.value.message


def test_non_json_answer_raises_malformed(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.set_fault("restriction_codes", Fault(non_json=True))

    with pytest.raises(SerasaMalformed) as caught:
        make_client().restriction_codes()

    assert "não é JSON" in caught.value.message
    assert sandbox.state.calls["restriction_codes"] == 1  # not retried


def test_missing_transacao_raises_malformed(client: SerasaClient, sandbox: SandboxServer) -> None:
    sandbox.set_fault("balance", Fault(missing_transacao=True))

    with pytest.raises(SerasaMalformed) as caught:
        client.balance()

    assert "Transacao" in caught.value.message


def test_dropped_connection_raises_timeout_with_unknown_outcome(
    make_client: ClientFactory, sandbox: SandboxServer
) -> None:
    sandbox.set_fault("balance", Fault(drop=True))

    with pytest.raises(SerasaTimeout) as caught:
        make_client(max_retries=0).balance()

    assert caught.value.outcome_unknown is True
    assert "incerto" in caught.value.message


def test_read_timeout_is_bounded(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.set_fault("balance", Fault(latency=3.0))
    client = make_client(max_retries=0)

    start = time.monotonic()
    with pytest.raises(SerasaTimeout) as caught:
        client.balance()
    elapsed = time.monotonic() - start

    assert elapsed < 3 * READ_TIMEOUT
    assert caught.value.outcome_unknown is True
    assert "0,3 s" in caught.value.message
    assert "O resultado é incerto" in caught.value.message


def test_connection_refused_raises_unavailable_and_is_retried_even_for_include(
    make_client: ClientFactory, calls: list[CallRecord]
) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{free_closed_port()}", max_retries=2)

    with pytest.raises(SerasaUnavailable) as caught:
        client.include(inclusion())

    assert caught.value.outcome_unknown is False
    assert "Nada foi enviado" in caught.value.message
    assert [(c.attempt, c.result, c.http_status) for c in calls] == [
        (1, "SerasaUnavailable", None),
        (2, "SerasaUnavailable", None),
        (3, "SerasaUnavailable", None),
    ]


# --------------------------------------------------------------------------------------------- retries


def test_include_is_not_retried_after_a_timeout(
    make_client: ClientFactory, sandbox: SandboxServer, calls: list[CallRecord]
) -> None:
    sandbox.set_fault("include", Fault(timeout=2.0))
    client = make_client(max_retries=3)

    with pytest.raises(SerasaTimeout) as caught:
        client.include(inclusion(contract="CT-77"))

    assert caught.value.outcome_unknown is True
    assert "pode ter sido incluída" in caught.value.message
    assert sandbox.state.calls["include"] == 1
    assert len(sandbox.state.records) == 1
    assert [c.result for c in calls] == ["SerasaTimeout"]
    # The uncertain inclusion is found by document and contract.
    [found] = client.list(document="52998224725", contract="CT-77")
    assert found["UniqueID"] in sandbox.state.records


def test_include_is_not_retried_after_a_dropped_connection(
    make_client: ClientFactory, sandbox: SandboxServer
) -> None:
    sandbox.set_fault("include", Fault(drop=True))
    client = make_client(max_retries=3)

    with pytest.raises(SerasaTimeout) as caught:
        client.include(inclusion())

    assert caught.value.outcome_unknown is True
    assert sandbox.state.calls["include"] == 1
    assert len(sandbox.state.records) == 1


def test_include_is_not_retried_after_a_5xx(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.set_fault("include", Fault(status_5xx=True, times=1))

    with pytest.raises(SerasaUnavailable) as caught:
        make_client(max_retries=3).include(inclusion())

    assert caught.value.outcome_unknown is True
    assert "pode ter sido incluída" in caught.value.message
    assert sandbox.state.calls["include"] == 1


@pytest.mark.parametrize("operation", ["balance", "restriction_codes", "exclusion_codes", "consult", "list"])
def test_safe_operations_are_retried_after_a_5xx(
    client: SerasaClient, sandbox: SandboxServer, calls: list[CallRecord], operation: str
) -> None:
    unique_id = client.include(inclusion())
    calls.clear()
    sandbox.set_fault(operation, Fault(status_5xx=True, times=1))
    run = {
        "balance": client.balance,
        "restriction_codes": client.restriction_codes,
        "exclusion_codes": client.exclusion_codes,
        "consult": lambda: client.consult(unique_id),
        "list": lambda: client.list("Ativas"),
    }[operation]

    assert run()
    assert sandbox.state.calls[operation] == 2
    assert [(c.attempt, c.result, c.http_status) for c in calls] == [
        (1, "SerasaUnavailable", 503),
        (2, "ok", 200),
    ]


def test_exclusion_is_retried_after_a_timeout(
    client: SerasaClient, sandbox: SandboxServer, calls: list[CallRecord]
) -> None:
    unique_id = client.include(inclusion())
    sandbox.set_fault("exclude", Fault(timeout=1.0, times=1))

    excluded_at = client.exclude(unique_id, "1", "Pagamento")

    assert excluded_at is not None
    assert sandbox.state.calls["exclude"] == 2
    assert [c.result for c in calls if c.operation == "exclude"] == ["SerasaTimeout", "ok"]
    assert sandbox.state.records[unique_id].status == "Baixada"


def test_retries_are_bounded(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.set_fault("*", Fault(status_5xx=True))

    with pytest.raises(SerasaUnavailable):
        make_client(max_retries=2).balance()

    assert sandbox.state.calls["balance"] == 3


def test_recorder_failure_does_not_lose_the_unique_id(
    make_client: ClientFactory, sandbox: SandboxServer
) -> None:
    def broken_recorder(record: CallRecord) -> None:
        raise RuntimeError("database is down")

    unique_id = make_client(recorder=broken_recorder).include(inclusion())

    assert unique_id in sandbox.state.records


# ----------------------------------------------------------------------------------------- parsing


def test_camel_case_answers_are_parsed(client: SerasaClient, sandbox: SandboxServer) -> None:
    sandbox.state.camel_case = True

    unique_id = client.include(inclusion())
    result = client.consult(unique_id)
    listed = client.list("Ativas")
    excluded_at = client.exclude(unique_id, "1", "Pagamento")

    assert client.balance() == Decimal("96.50")
    assert client.restriction_codes()[0] == Code("1", "PEFIN - Outras operações")
    assert result.status == BureauStatus.ACTIVE
    assert result.included_at is not None
    assert listed[0]["UniqueID"] == listed[0]["uniqueID"] == unique_id
    assert excluded_at is not None


def test_camel_case_refusals_are_typed(make_client: ClientFactory, sandbox: SandboxServer) -> None:
    sandbox.state.camel_case = True

    with pytest.raises(SerasaBadCredentials):
        make_client(password="outra").balance()
    with pytest.raises(SerasaRefused) as caught:
        make_client().consult("nao-existe")

    assert caught.value.code == "P900M003"


# ------------------------------------------------------------------------------------------ secrets


def test_password_never_leaks(
    make_client: ClientFactory,
    sandbox: SandboxServer,
    calls: list[CallRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=1)
    errors: list[SerasaError] = []

    def expect_error(action: Callable[[], object]) -> None:
        with pytest.raises(SerasaError) as caught:
            action()
        errors.append(caught.value)

    # An answer that echoes the request, credentials included.
    sandbox.set_fault("balance", Fault(echo_request=True, times=1))
    client.balance()
    unique_id = client.include(inclusion())
    sandbox.set_fault("consult", Fault(echo_request=True, times=1))
    consulted = client.consult(unique_id)
    # SOA echoing an input value (here, the password) in its refusal description.
    expect_error(lambda: client.consult(PASSWORD))
    sandbox.set_fault("list", Fault(timeout=1.0))
    expect_error(lambda: client.list("Ativas"))
    sandbox.set_fault("include", Fault(drop=True, echo_request=True))
    expect_error(lambda: client.include(inclusion(contract="CT-2")))
    sandbox.set_fault("exclude", Fault(status_5xx=True))
    expect_error(lambda: client.exclude(unique_id, "1", "Pagamento"))
    sandbox.set_fault("restriction_codes", Fault(non_json=True))
    expect_error(client.restriction_codes)
    sandbox.set_fault("exclusion_codes", Fault(missing_transacao=True, echo_request=True))
    expect_error(client.exclusion_codes)
    closed = make_client(base_url=f"http://127.0.0.1:{free_closed_port()}", max_retries=0)
    expect_error(closed.balance)

    assert any("***" in c.response_text for c in calls)
    assert "***" in str(errors[0])
    assert len(errors) == 7
    for record in calls:
        assert PASSWORD not in repr(record)
        assert PASSWORD not in repr(asdict(record))
    for error in errors:
        assert PASSWORD not in str(error)
        assert PASSWORD not in repr(error)
        assert PASSWORD not in repr(error.args)
        assert PASSWORD not in repr(vars(error))
        assert error.__cause__ is None
    assert caplog.records
    for log_record in caplog.records:
        assert PASSWORD not in log_record.getMessage()
    assert PASSWORD not in caplog.text
    assert consulted.raw["Requisicao"]["Credenciais"]["Senha"] == "***"
    assert PASSWORD not in repr(consulted.raw)
    assert PASSWORD not in repr(client)
    assert PASSWORD not in repr(vars(client))


def test_repr_shows_url_and_email_only(client: SerasaClient, sandbox: SandboxServer) -> None:
    assert repr(client) == f"SerasaClient(base_url={sandbox.url!r}, email={DEFAULT_EMAIL!r})"


def test_client_configuration_and_sandbox_share_one_soa_table():
    """One table of paths and base URLs: the sandbox serves exactly what the client calls."""
    assert soa_sandbox.OPERATIONS is PATHS
    for environment in ("producao", "homologacao", "sandbox"):
        key = f"SOA_URL_{environment.upper()}"
        assert getattr(Config, key) == os.environ.get(key, BASE_URLS[environment])


def test_the_environment_proxy_and_ca_bundle_still_apply(monkeypatch, tmp_path):
    """The client reads HTTPS_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE once (not on every call): an agency behind a
    corporate proxy still reaches SOA through it, and a host listed in NO_PROXY is reached directly."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.assessoria.local:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = SerasaClient("https://soa.exemplo.com.br/api", "a@b.com.br", "segredo")
    assert client.session.proxies.get("https") == "http://proxy.assessoria.local:3128"
    assert client.session.verify == str(bundle)
    monkeypatch.setenv("NO_PROXY", "soa.exemplo.com.br")
    direct = SerasaClient("https://soa.exemplo.com.br/api", "a@b.com.br", "segredo")
    assert "https" not in direct.session.proxies
