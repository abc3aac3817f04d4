"""Test the SOA sandbox's contract, faults and control endpoints over real loopback HTTP."""

import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from validate_docbr import CNPJ, CPF

from devtools import soa_sandbox
from devtools.soa_sandbox import (
    DEFAULT_BALANCE,
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    INCLUSION_COST,
    OPERATIONS,
    REFUSED_DOCUMENTS,
    Fault,
    SandboxServer,
)

CREDENTIALS = {"Email": DEFAULT_EMAIL, "Senha": DEFAULT_PASSWORD}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever the environment's proxy settings
    yield session
    session.close()


def call(
    http: requests.Session,
    sandbox: SandboxServer,
    operation: str,
    credentials: dict | None = None,
    **body: Any,
) -> dict[str, Any]:
    response = http.post(
        sandbox.url + OPERATIONS[operation],
        json={"Credenciais": credentials or CREDENTIALS, **body},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


def inclusion_body(**overrides: Any) -> dict[str, Any]:
    debtor = {
        "Documento": "52998224725",
        "Nome": "Maria da Silva",
        "DataNascimento": "1980-05-17",
        "Endereco": {
            "Logradouro": "Rua das Flores",
            "Numero": "100",
            "Complemento": "",
            "Bairro": "Centro",
            "Cidade": "São Paulo",
            "UF": "SP",
            "CEP": "01310100",
        },
    }
    restriction = {
        "CodigoRestricao": "1",
        "Contrato": "CT-0001",
        "DataVencimento": (date.today() - timedelta(days=30)).isoformat(),
        "Valor": 99.9,
    }
    body = {
        "Devedor": debtor,
        "Restricao": restriction,
        "Credor": {"Documento": "11222333000181", "Nome": "Loja"},
    }
    for path, value in overrides.items():
        *parents, leaf = path.split("__")
        target = body
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return body


def include(http: requests.Session, sandbox: SandboxServer, **overrides: Any) -> dict[str, Any]:
    return call(http, sandbox, "include", **inclusion_body(**overrides))


# ----------------------------------------------------------------------------------------------- basics


def test_binds_to_loopback_on_a_free_port(sandbox: SandboxServer) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert not sandbox.url.endswith(":0")


def test_wrong_credentials_answer_g000m000(http: requests.Session, sandbox: SandboxServer) -> None:
    answer = call(http, sandbox, "balance", {"Email": DEFAULT_EMAIL, "Senha": "errada"})

    assert answer["Status"] is False
    assert answer["Transacao"] == {
        "Status": False,
        "CodigoStatus": "G000M000",
        "CodigoStatusDescricao": "Usuario/Senha Invalidos",
    }


def test_balance_and_codes(http: requests.Session, sandbox: SandboxServer) -> None:
    balance = http.post(sandbox.url + OPERATIONS["balance"], json={"Credenciais": CREDENTIALS}, timeout=5)
    restriction = call(http, sandbox, "restriction_codes")
    exclusion = call(http, sandbox, "exclusion_codes")

    assert '"Saldo": 100.00' in balance.text
    assert balance.json()["Transacao"]["CodigoStatus"] == "G000M001"
    assert {"Codigo": "1", "Descricao": "PEFIN - Outras operações"} in restriction["Codigos"]
    assert [c["Descricao"] for c in exclusion["Codigos"]] == [
        "Pagamento da dívida",
        "Acordo / renegociação",
        "Contestação ou erro na inclusão",
        "Ordem judicial",
        "Outro motivo",
    ]


def test_paths_match_case_insensitively(http: requests.Session, sandbox: SandboxServer) -> None:
    response = http.post(
        sandbox.url + OPERATIONS["balance"].lower(), json={"Credenciais": CREDENTIALS}, timeout=5
    )

    assert response.json()["Transacao"]["Status"] is True


def test_unknown_path_and_wrong_method(http: requests.Session, sandbox: SandboxServer) -> None:
    assert http.post(sandbox.url + "/api/v2/Outra/Coisa", json={}, timeout=5).status_code == 404
    assert http.get(sandbox.url + OPERATIONS["balance"], timeout=5).status_code == 405


def test_body_must_be_a_json_object(http: requests.Session, sandbox: SandboxServer) -> None:
    answer = http.post(sandbox.url + OPERATIONS["balance"], data=b"nada", timeout=5).json()

    assert answer["Transacao"]["CodigoStatus"] == "P900M006"


# ------------------------------------------------------------------------------------------- inclusion


@pytest.mark.parametrize("document", [*REFUSED_DOCUMENTS, "52998224725", "11222333000181", "39053344705"])
def test_check_digits_agree_with_validate_docbr(document: str) -> None:
    expected = CPF().validate(document) if len(document) == 11 else CNPJ().validate(document)

    assert expected is True
    assert soa_sandbox._is_valid_document(document) is True


@pytest.mark.parametrize(
    "document", ["52998224724", "11222333000180", "11111111111", "123", "00000000000000"]
)
def test_invalid_documents_are_rejected_by_the_check(document: str) -> None:
    assert soa_sandbox._is_valid_document(document) is False


def test_include_creates_a_pending_record_and_charges(http: requests.Session, sandbox: SandboxServer) -> None:
    answer = include(http, sandbox)

    unique_id = answer["UniqueID"]
    assert len(unique_id) == 32
    assert answer["Situacao"] == "Pendente"
    record = sandbox.state.records[unique_id]
    assert (record.document, record.contract, record.amount) == ("52998224725", "CT-0001", Decimal("99.90"))
    assert sandbox.state.accounts[DEFAULT_EMAIL].balance == DEFAULT_BALANCE - INCLUSION_COST


def test_include_reads_camel_case_requests(http: requests.Session, sandbox: SandboxServer) -> None:
    body = inclusion_body()
    camel = {
        "credenciais": {"email": DEFAULT_EMAIL, "senha": DEFAULT_PASSWORD},
        "devedor": body["Devedor"],
        "restricao": {k[0].lower() + k[1:]: v for k, v in body["Restricao"].items()},
        "credor": body["Credor"],
    }

    answer = http.post(sandbox.url + OPERATIONS["include"], json=camel, timeout=5).json()

    assert answer["Transacao"]["Status"] is True


#: A parameter meaning "today's date" (resolved when the test runs).
TODAY = object()


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"Devedor__Documento": "52998224724"}, "G000M003", "Documento do devedor invalido"),
        ({"Credor__Documento": "11222333000180"}, "G000M003", "Documento do credor invalido"),
        (
            {"Devedor__Endereco__CEP": "", "Devedor__Nome": None},
            "P900M002",
            "Devedor.Nome, Devedor.Endereco.CEP",
        ),
        ({"Devedor__Endereco__UF": "XX"}, "P900M002", "UF inválida"),
        ({"Devedor__Endereco__CEP": "0131"}, "P900M002", "CEP inválido"),
        ({"Restricao__CodigoRestricao": "99"}, "P900M002", "CodigoRestricao desconhecido"),
        ({"Restricao__DataVencimento": "10/01/2024"}, "P900M002", "DataVencimento inválida"),
        ({"Restricao__DataVencimento": TODAY}, "P900M002", "anterior a hoje"),
        ({"Restricao__DataVencimento": "2001-01-01"}, "P900M002", "mais de 5 anos"),
        ({"Restricao__Valor": 0}, "P900M002", "Valor inválido"),
        ({"Restricao__Valor": "abc"}, "P900M002", "Valor inválido"),
        ({"Devedor__DataNascimento": "17/05/1980"}, "P900M002", "DataNascimento inválida"),
    ],
)
def test_invalid_inclusions_are_refused(
    http: requests.Session, sandbox: SandboxServer, overrides: dict, code: str, fragment: str
) -> None:
    # today as the sandbox sees it when the test runs, not when it was collected (a run across midnight)
    overrides = {key: date.today().isoformat() if value is TODAY else value for key, value in overrides.items()}
    answer = include(http, sandbox, **overrides)

    assert answer["Transacao"]["Status"] is False
    assert answer["Transacao"]["CodigoStatus"] == code
    assert fragment in answer["Transacao"]["CodigoStatusDescricao"]
    assert sandbox.state.records == {}
    assert sandbox.state.accounts[DEFAULT_EMAIL].balance == DEFAULT_BALANCE


def test_duplicate_inclusion_is_refused(http: requests.Session, sandbox: SandboxServer) -> None:
    first = include(http, sandbox)

    second = include(http, sandbox)

    assert second["Transacao"]["CodigoStatus"] == "P900M004"
    assert first["UniqueID"] in second["Transacao"]["CodigoStatusDescricao"]
    assert len(sandbox.state.records) == 1


def test_spent_balance_is_a_credit_refusal(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_balance(DEFAULT_EMAIL, Decimal("3.49"))

    answer = include(http, sandbox)

    assert answer["Transacao"]["CodigoStatus"] == "P900M001"
    assert answer["Transacao"]["CodigoStatusDescricao"].startswith("Saldo insuficiente: compre créditos")
    assert "R$ 3,49" in answer["Transacao"]["CodigoStatusDescricao"]
    assert sandbox.state.records == {}


def test_concurrent_inclusions_are_charged_once_each(http: requests.Session, sandbox: SandboxServer) -> None:
    results: list[dict] = []

    def worker(n: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            results.append(include(session, sandbox, Restricao__Contrato=f"CT-{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(r["Transacao"]["Status"] for r in results)
    assert len(sandbox.state.records) == 10
    assert sandbox.state.accounts[DEFAULT_EMAIL].balance == DEFAULT_BALANCE - 10 * INCLUSION_COST


# ------------------------------------------------------------------------------------------ life cycle


def test_pending_becomes_active_after_the_delay(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.state.activation_delay = 0.2
    unique_id = include(http, sandbox)["UniqueID"]

    before = call(http, sandbox, "consult", UniqueID=unique_id)
    time.sleep(0.25)
    after = call(http, sandbox, "consult", UniqueID=unique_id)

    assert before["Situacao"] == "Pendente"
    assert before["DataInclusao"] is None
    assert after["Situacao"] == "Ativa"
    assert after["DataInclusao"]


@pytest.mark.parametrize("document", list(REFUSED_DOCUMENTS))
def test_refused_documents_end_in_error(
    http: requests.Session, sandbox: SandboxServer, document: str
) -> None:
    unique_id = include(http, sandbox, Devedor__Documento=document)["UniqueID"]

    [record] = call(http, sandbox, "list", Condicao="Erro")["Negativacoes"]

    assert record["UniqueID"] == unique_id
    assert record["Mensagem"] == REFUSED_DOCUMENTS[document]


def test_minor_debtor_ends_in_error(http: requests.Session, sandbox: SandboxServer) -> None:
    birth = date.today().replace(year=date.today().year - 10, day=1)
    unique_id = include(http, sandbox, Devedor__DataNascimento=birth.isoformat())["UniqueID"]

    answer = call(http, sandbox, "consult", UniqueID=unique_id)

    assert answer["Situacao"] == "Erro"
    assert "menor de idade" in answer["Mensagem"]


def test_consult_by_document_and_contract(http: requests.Session, sandbox: SandboxServer) -> None:
    unique_id = include(http, sandbox, Restricao__Contrato="CT-5")["UniqueID"]

    found = call(http, sandbox, "consult", Documento="529.982.247-25", Contrato="CT-5")
    missing = call(http, sandbox, "consult", Documento="52998224725", Contrato="CT-6")
    neither = call(http, sandbox, "consult")

    assert found["UniqueID"] == unique_id
    assert missing["Transacao"]["CodigoStatus"] == "P900M003"
    assert neither["Transacao"]["CodigoStatus"] == "P900M002"


def test_list_filters_and_rejects_unknown_conditions(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.state.activation_delay = 60
    include(http, sandbox, Restricao__Contrato="CT-1")
    include(http, sandbox, Restricao__Contrato="CT-2")

    pending = call(http, sandbox, "list", Condicao="Pendentes")["Negativacoes"]
    active = call(http, sandbox, "list", Condicao="Ativas")["Negativacoes"]
    by_contract = call(http, sandbox, "list", Documento="52998224725", Contrato="CT-2")["Negativacoes"]
    invalid = call(http, sandbox, "list", Condicao="Todas")

    assert len(pending) == 2
    assert active == []
    assert [r["Contrato"] for r in by_contract] == ["CT-2"]
    assert invalid["Transacao"]["CodigoStatus"] == "P900M002"


def test_exclusion(http: requests.Session, sandbox: SandboxServer) -> None:
    unique_id = include(http, sandbox)["UniqueID"]

    answer = call(http, sandbox, "exclude", UniqueID=unique_id, CodigoBaixa=1, BaixaDescricao="Pago")
    again = call(http, sandbox, "exclude", UniqueID=unique_id, CodigoBaixa=1, BaixaDescricao="Pago")
    [listed] = call(http, sandbox, "list", Condicao="Baixadas")["Negativacoes"]

    assert answer["Transacao"]["Status"] is True
    assert answer["DataHoraExclusao"]
    assert answer["CodigoBaixa"] == 1
    assert answer["DocumentoDevedor"] == "52998224725"
    assert again["DataHoraExclusao"] == answer["DataHoraExclusao"]
    assert listed["UniqueID"] == unique_id
    assert listed["DataBaixa"] == answer["DataHoraExclusao"]


def test_exclusion_refusals(http: requests.Session, sandbox: SandboxServer) -> None:
    refused_id = include(http, sandbox, Devedor__Documento="11144477735")["UniqueID"]
    call(http, sandbox, "consult", UniqueID=refused_id)
    unknown = call(http, sandbox, "exclude", UniqueID="abc", CodigoBaixa=1, BaixaDescricao="")
    bad_code = call(http, sandbox, "exclude", UniqueID=refused_id, CodigoBaixa=42, BaixaDescricao="")
    in_error = call(http, sandbox, "exclude", UniqueID=refused_id, CodigoBaixa=1, BaixaDescricao="")

    assert unknown["Transacao"]["CodigoStatus"] == "P900M003"
    assert "abc" in unknown["Transacao"]["CodigoStatusDescricao"]
    assert bad_code["Transacao"]["CodigoStatus"] == "P900M002"
    assert in_error["Transacao"]["CodigoStatus"] == "P900M005"


def test_accounts_do_not_see_each_other(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.add_account("outra@soa.sandbox", "outra-senha")
    other = {"Email": "outra@soa.sandbox", "Senha": "outra-senha"}
    unique_id = include(http, sandbox)["UniqueID"]

    consult = call(http, sandbox, "consult", other, UniqueID=unique_id)
    listed = call(http, sandbox, "list", other)
    exclude = call(http, sandbox, "exclude", other, UniqueID=unique_id, CodigoBaixa=1, BaixaDescricao="")

    assert consult["Transacao"]["CodigoStatus"] == "P900M003"
    assert listed["Negativacoes"] == []
    assert exclude["Transacao"]["CodigoStatus"] == "P900M003"


def test_camel_case_answers(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.state.camel_case = True

    answer = include(http, sandbox)
    listed = call(http, sandbox, "list", Condicao="Ativas")

    assert answer["transacao"]["codigoStatus"] == "G000M001"
    assert "uniqueID" in answer
    assert listed["negativacoes"][0]["situacao"] == "Ativa"
    assert "Transacao" not in answer


# --------------------------------------------------------------------------------------------- faults


def test_5xx_fault_answers_html_without_processing(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_fault("include", Fault(status_5xx=True))

    response = http.post(sandbox.url + OPERATIONS["include"], json={"Credenciais": CREDENTIALS}, timeout=5)

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert sandbox.state.records == {}


def test_drop_fault_closes_the_socket_after_including(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_fault("include", Fault(drop=True))

    with pytest.raises(requests.ConnectionError):
        http.post(
            sandbox.url + OPERATIONS["include"],
            json={"Credenciais": CREDENTIALS, **inclusion_body()},
            timeout=5,
        )

    assert sandbox.state.calls["include"] == 1
    assert len(sandbox.state.records) == 1


def test_non_json_and_missing_transacao_faults(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_fault("balance", Fault(non_json=True))
    sandbox.set_fault("restriction_codes", Fault(missing_transacao=True))

    garbage = http.post(sandbox.url + OPERATIONS["balance"], json={"Credenciais": CREDENTIALS}, timeout=5)
    partial = call(http, sandbox, "restriction_codes")

    assert garbage.status_code == 200
    assert garbage.text.startswith("<html>")
    assert "Codigos" in partial
    assert "Transacao" not in partial


def test_timeout_fault_holds_the_answer(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_fault("*", Fault(timeout=0.3))

    start = time.monotonic()
    answer = call(http, sandbox, "balance")

    assert time.monotonic() - start >= 0.3
    assert answer["Transacao"]["Status"] is True


def test_fault_times_counts_down_and_specific_beats_star(
    http: requests.Session, sandbox: SandboxServer
) -> None:
    sandbox.set_fault("*", Fault(status_5xx=True))
    sandbox.set_fault("balance", Fault(non_json=True, times=2))
    url = sandbox.url + OPERATIONS["balance"]

    texts = [http.post(url, json={"Credenciais": CREDENTIALS}, timeout=5).text[:6] for _ in range(3)]

    assert texts == ["<html>", "<html>", "<!DOCT"]
    assert "balance" not in sandbox.state.faults
    assert sandbox.state.calls["balance"] == 3


def test_echo_fault_copies_the_request(http: requests.Session, sandbox: SandboxServer) -> None:
    sandbox.set_fault("balance", Fault(echo_request=True))

    answer = call(http, sandbox, "balance")

    assert answer["Requisicao"] == {"Credenciais": CREDENTIALS}


def test_stop_wakes_requests_held_by_a_fault(http: requests.Session) -> None:
    server = SandboxServer().start()
    server.set_fault("balance", Fault(timeout=30))
    errors: list[Exception] = []

    def hold() -> None:
        try:
            http.post(server.url + OPERATIONS["balance"], json={"Credenciais": CREDENTIALS}, timeout=5)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.2)
    start = time.monotonic()
    server.stop()
    thread.join()

    assert time.monotonic() - start < 2
    with pytest.raises(RuntimeError):
        _ = server.url


def test_request_delayed_across_a_reset_changes_nothing(
    http: requests.Session, sandbox: SandboxServer
) -> None:
    sandbox.set_fault("include", Fault(latency=0.3))
    errors: list[Exception] = []

    def send() -> None:
        try:
            include(http, sandbox)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    time.sleep(0.1)
    sandbox.reset()
    thread.join()

    assert len(errors) == 1  # answered by closing the connection
    assert sandbox.state.records == {}
    assert sandbox.state.accounts[DEFAULT_EMAIL].balance == DEFAULT_BALANCE


def test_unknown_fault_operation_is_rejected(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError):
        sandbox.set_fault("inserir", Fault(drop=True))


# ----------------------------------------------------------------------------------- control endpoints


def test_state_endpoint_reports_state_without_passwords(
    http: requests.Session, sandbox: SandboxServer
) -> None:
    include(http, sandbox)

    state = http.get(sandbox.url + "/_sandbox/state", timeout=5).json()

    assert state["accounts"] == {DEFAULT_EMAIL: {"balance": "96.50"}}
    assert state["records"][0]["document"] == "52998224725"
    assert state["calls"] == {"include": 1}
    assert state["activation_delay"] == 0.0
    assert state["camel_case"] is False
    assert DEFAULT_PASSWORD not in http.get(sandbox.url + "/_sandbox/state", timeout=5).text


def test_faults_endpoint_sets_and_clears_faults(http: requests.Session, sandbox: SandboxServer) -> None:
    set_answer = http.post(
        sandbox.url + "/_sandbox/faults",
        json={"include": {"drop": True, "times": 1}, "*": {"latency": 0.1}},
        timeout=5,
    )
    cleared = http.post(sandbox.url + "/_sandbox/faults", json={"*": None}, timeout=5)
    bad = http.post(sandbox.url + "/_sandbox/faults", json={"include": {"explode": True}}, timeout=5)
    bad_operation = http.post(sandbox.url + "/_sandbox/faults", json={"inserir": {}}, timeout=5)

    assert set_answer.status_code == 200
    assert set_answer.json()["faults"]["include"]["drop"] is True
    assert set(cleared.json()["faults"]) == {"include"}
    assert sandbox.state.faults["include"] == Fault(drop=True, times=1)
    assert bad.status_code == 400
    assert "explode" in bad.json()["erro"]
    assert bad_operation.status_code == 400


def test_settings_and_reset_endpoints(http: requests.Session, sandbox: SandboxServer) -> None:
    include(http, sandbox)
    sandbox.set_fault("balance", Fault(status_5xx=True))

    settings = http.post(
        sandbox.url + "/_sandbox/settings",
        json={"activation_delay": 5, "camel_case": True, "balances": {DEFAULT_EMAIL: "1.00"}},
        timeout=5,
    ).json()
    bad = http.post(sandbox.url + "/_sandbox/settings", json={"colour": "red"}, timeout=5)
    reset = http.post(sandbox.url + "/_sandbox/reset", timeout=5).json()

    assert settings["activation_delay"] == 5.0
    assert settings["camel_case"] is True
    assert settings["accounts"][DEFAULT_EMAIL]["balance"] == "1.00"
    assert bad.status_code == 400
    assert reset["records"] == []
    assert reset["faults"] == {}
    assert reset["calls"] == {}
    assert reset["camel_case"] is False
    assert reset["activation_delay"] == 0.0
    assert reset["accounts"][DEFAULT_EMAIL]["balance"] == "100.00"


def test_unknown_control_route(http: requests.Session, sandbox: SandboxServer) -> None:
    assert http.get(sandbox.url + "/_sandbox/nada", timeout=5).status_code == 404
    assert http.post(sandbox.url + "/_sandbox/faults", data=b"{", timeout=5).status_code == 400


def test_requests_are_logged_without_credentials(
    http: requests.Session, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="devtools.soa_sandbox")

    include(http, sandbox)
    call(http, sandbox, "balance", {"Email": DEFAULT_EMAIL, "Senha": "errada"})

    lines = [r.getMessage() for r in caplog.records if r.name == "devtools.soa_sandbox"]
    assert any("include" in line and "HTTP 200 G000M001" in line for line in lines)
    assert any("balance" in line and "G000M000" in line for line in lines)
    assert not any(DEFAULT_PASSWORD in line or "errada" in line or DEFAULT_EMAIL in line for line in lines)


def test_connections_are_kept_alive_and_closed_when_the_sandbox_stops() -> None:
    """Like SOA's servers, the sandbox answers many calls on one connection. Once stopped it answers nothing
    more on them: the next call finds no server, and the client knows nothing was sent."""
    from integrations.serasa import SerasaClient, SerasaUnavailable

    server = SandboxServer(port=0).start()
    try:
        client = SerasaClient(server.url, DEFAULT_EMAIL, DEFAULT_PASSWORD, max_retries=0)
        assert [client.balance() for _ in range(5)] == [DEFAULT_BALANCE] * 5
        assert server.snapshot()["connections"] == 1
        assert server.snapshot()["calls"]["balance"] == 5
    finally:
        server.stop()
    with pytest.raises(SerasaUnavailable) as stopped:
        client.balance()
    assert stopped.value.outcome_unknown is False
    client.close()


def test_a_dropped_connection_is_not_reused(http: requests.Session, sandbox: SandboxServer) -> None:
    """A ``drop`` fault closes that connection only; the next call opens another and is answered."""
    sandbox.set_fault("balance", Fault(drop=True, times=1))
    with pytest.raises(requests.ConnectionError):
        http.post(sandbox.url + OPERATIONS["balance"], json={"Credenciais": CREDENTIALS}, timeout=5)
    assert call(http, sandbox, "balance")["Transacao"]["Status"] is True
    assert sandbox.snapshot()["connections"] == 2
