"""Run a local stand-in for SOA WebServices' negativation API (``docs/soa-api.md``).

The sandbox is a development aid for the demo and the tests, reached over real HTTP; it is not
a mock inside the client. Its HTTP side is a small Werkzeug WSGI application served by Werkzeug's
threaded server on a loopback port, speaking HTTP/1.1 with keep-alive as production web servers do (so a client
that reuses its connections is measured as it will run); it shares only the wire table (paths, answer codes)
with the client (``integrations/soa_api.py``).

Defaults (all sandbox values, not SOA's):

- one account ``demo@soa.sandbox`` / ``sandbox123`` with R$ 100,00 of credit; each accepted
  inclusion costs R$ 3,50 (``INCLUSION_COST``);
- an inclusion is ``Pendente`` until ``activation_delay`` seconds have passed; the next
  ``Consultar``/``Listar`` then turns it ``Ativa``, or ``Erro`` for a debtor in
  ``REFUSED_DOCUMENTS`` (CPF ``111.444.777-35`` and CNPJ ``11.444.777/0001-61``, both with valid
  check digits) or a debtor under 18;
- answer codes: ``G000M001`` success, ``G000M000`` wrong e-mail/password, ``G000M003`` invalid
  CPF/CNPJ (SOA's own codes), and sandbox-only codes ``P900M001`` no credit ("Saldo insuficiente"),
  ``P900M002`` missing/invalid field, ``P900M003`` UniqueID not found, ``P900M004`` duplicate
  inclusion, ``P900M005`` record cannot be excluded, ``P900M006`` body is not a JSON object.

Faults (:class:`Fault`) are set per operation, or for every operation with ``"*"``, either from
Python (``SandboxServer.set_fault``) or over HTTP:

- ``GET /_sandbox/state``: accounts (balance only), records, faults, calls per operation, TCP connections
  accepted;
- ``POST /_sandbox/faults``: ``{"include": {"drop": true, "times": 1}, "*": null}`` (null clears);
- ``POST /_sandbox/settings``: ``{"activation_delay": 0, "camel_case": true, "balances": {...}}``;
- ``POST /_sandbox/reset``: back to the initial accounts and settings, no records, no faults.

Run it with ``serve()`` (or ``python -m devtools.soa_sandbox --port 5001``, or
``flask --app app soa-sandbox``); it binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_decimal
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from integrations.soa_api import CODE_BAD_CREDENTIALS, CODE_INVALID_DOCUMENT, CODE_SUCCESS, LIST_CONDITIONS, PATHS
from models.documents import only_digits

__all__ = [
    "DEFAULT_ACTIVATION_DELAY",
    "DEFAULT_BALANCE",
    "DEFAULT_EMAIL",
    "DEFAULT_PASSWORD",
    "EXCLUSION_CODES",
    "INCLUSION_COST",
    "OPERATIONS",
    "REFUSED_DOCUMENTS",
    "RESTRICTION_CODES",
    "Account",
    "Fault",
    "SandboxRecord",
    "SandboxServer",
    "SandboxState",
    "serve",
]

logger = logging.getLogger(__name__)

DEFAULT_EMAIL = "demo@soa.sandbox"
DEFAULT_PASSWORD = "sandbox123"
DEFAULT_BALANCE = Decimal("100.00")
INCLUSION_COST = Decimal("3.50")
#: Seconds an inclusion stays Pendente when run by ``serve()`` (the demo); tests use 0.
DEFAULT_ACTIVATION_DELAY = 10.0

#: Debtors the sandbox "bureau" refuses after accepting the inclusion: Pendente → Erro.
REFUSED_DOCUMENTS: dict[str, str] = {
    "11144477735": "Endereço do devedor não localizado pelos Correios: a comunicação prévia não foi enviada.",
    "11444777000161": "CNPJ do devedor consta como baixado na Receita Federal.",
}

#: Operation → path: the client's own table (matched case-insensitively, like IIS does).
OPERATIONS = PATHS
_OPERATION_BY_PATH = {path.lower(): name for name, path in OPERATIONS.items()}

#: Sandbox restriction codes (the real table is only in the SOA account's documentation).
RESTRICTION_CODES: list[tuple[str, str]] = [
    ("1", "PEFIN - Outras operações"),
    ("2", "PEFIN - Duplicata mercantil"),
    ("3", "PEFIN - Empréstimo / financiamento"),
    ("4", "PEFIN - Cartão de crédito"),
    ("5", "PEFIN - Prestação de serviços"),
    ("6", "PEFIN - Mensalidade escolar"),
]
#: Sandbox exclusion (baixa) codes; numeric, like the one public v2 example (``codigoBaixa: 1``).
EXCLUSION_CODES: list[tuple[int, str]] = [
    (1, "Pagamento da dívida"),
    (2, "Acordo / renegociação"),
    (3, "Contestação ou erro na inclusão"),
    (4, "Ordem judicial"),
    (5, "Outro motivo"),
]

CODE_NO_CREDIT = "P900M001"
CODE_INVALID_FIELD = "P900M002"
CODE_NOT_FOUND = "P900M003"
CODE_DUPLICATE = "P900M004"
CODE_NOT_EXCLUDABLE = "P900M005"
CODE_BAD_REQUEST = "P900M006"

STATUS_PENDING = "Pendente"
STATUS_ACTIVE = "Ativa"
STATUS_ERROR = "Erro"
STATUS_UNAVAILABLE = "Indisponivel"
STATUS_CLEARED = "Baixada"
#: ``Listar`` condition → record situation.
CONDITIONS = dict(
    zip(
        (c.lower() for c in LIST_CONDITIONS),
        (STATUS_PENDING, STATUS_ACTIVE, STATUS_ERROR, STATUS_UNAVAILABLE, STATUS_CLEARED),
        strict=True,
    )
)

UFS = frozenset(
    {
        *("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA"),
        *("PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"),
    }
)
_BRASILIA = timezone(timedelta(hours=-3))
_MAX_BODY = 1_000_000
_HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p>"
    b"</body></html>"
)
_HTML_GARBAGE = (
    b"<html><body><h2>Runtime Error</h2><p>An application error occurred on the server.</p></body></html>"
)


# ---------------------------------------------------------------------------------------------- state


@dataclass
class Fault:
    """Describe how the sandbox misbehaves for an operation.

    Order: wait ``latency`` s; answer 503 (``status_5xx``, nothing processed); otherwise process
    the request, so an inclusion exists at the "bureau" even when the answer is then lost: hold it
    ``timeout`` s, close the socket without answering (``drop``), answer HTML (``non_json``) or
    leave out ``Transacao`` (``missing_transacao``). ``echo_request`` copies the request body,
    credentials included, into the answer under ``Requisicao``. ``times`` limits the fault to the
    next N requests (None: until cleared).
    """

    latency: float = 0.0
    timeout: float = 0.0
    status_5xx: bool = False
    non_json: bool = False
    drop: bool = False
    missing_transacao: bool = False
    echo_request: bool = False
    times: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from JSON, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class Account:
    """Hold one SOA account of the sandbox."""

    password: str = field(repr=False)
    balance: Decimal


@dataclass
class SandboxRecord:
    """Hold one negativation as the sandbox "bureau" keeps it."""

    unique_id: str
    account: str
    document: str
    name: str
    birth_date: date | None
    address: dict[str, str]
    restriction_code: str
    contract: str
    due_date: date
    amount: Decimal
    creditor_document: str
    creditor_name: str
    created_at: datetime
    created_monotonic: float
    status: str = STATUS_PENDING
    message: str = "Negativação recebida; aguardando processamento do Serasa."
    included_at: datetime | None = None
    excluded_at: datetime | None = None
    exclusion_code: str | None = None
    exclusion_description: str | None = None

    def as_answer(self) -> dict[str, Any]:
        """Render the record as SOA would list it (PascalCase keys)."""
        return {
            "UniqueID": self.unique_id,
            "Documento": self.document,
            "Nome": self.name,
            "Contrato": self.contract,
            "CodigoRestricao": self.restriction_code,
            "RestricaoDescricao": dict(RESTRICTION_CODES).get(self.restriction_code, ""),
            "DataVencimento": self.due_date.isoformat(),
            "Valor": self.amount,
            "DocumentoCredor": self.creditor_document,
            "NomeCredor": self.creditor_name,
            "Situacao": self.status,
            "Mensagem": self.message,
            "DataInclusao": _iso(self.included_at),
            "DataBaixa": _iso(self.excluded_at),
            "CodigoBaixa": self.exclusion_code,
            "BaixaDescricao": self.exclusion_description,
        }


@dataclass
class SandboxState:
    """Hold everything the sandbox knows; guard reads and writes with ``lock``."""

    accounts: dict[str, Account]
    activation_delay: float
    camel_case: bool
    inclusion_cost: Decimal
    records: dict[str, SandboxRecord] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    #: Requests received per operation, faulty ones included.
    calls: Counter[str] = field(default_factory=Counter)
    #: TCP connections accepted (a client that keeps its connections alive opens few).
    connections: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)


@dataclass
class _Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    drop: bool = False
    code: str = ""


# --------------------------------------------------------------------------------------------- server


class SandboxServer:
    """Serve the SOA contract on 127.0.0.1 from a background thread (or the foreground)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        activation_delay: float = 0.0,
        camel_case: bool = False,
        accounts: dict[str, str] | None = None,
        balance: Decimal = DEFAULT_BALANCE,
        inclusion_cost: Decimal = INCLUSION_COST,
    ) -> None:
        self.host = host
        self.port = port
        self._initial = {
            "accounts": dict(accounts or {DEFAULT_EMAIL: DEFAULT_PASSWORD}),
            "balance": Decimal(balance),
            "activation_delay": activation_delay,
            "camel_case": camel_case,
            "inclusion_cost": Decimal(inclusion_cost),
        }
        self._state = self._fresh_state()
        self._httpd: _WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        #: Bumped by reset(), so that requests delayed across a reset do not touch the new state.
        self._generation = 0

    def __repr__(self) -> str:
        where = self.url if self._httpd else "not started"
        return f"{type(self).__name__}({where})"

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        """Bind and serve from a daemon thread; return self."""
        self._bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="soa-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in the calling thread until interrupted."""
        self._bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            logger.info("SOA sandbox interrupted")
        finally:
            self._stopping.set()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        """Stop serving, wake requests held by faults and wait for them to finish."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---------------------------------------------------------------------------------------- state

    @property
    def state(self) -> SandboxState:
        """Return the live state; hold ``state.lock`` while changing it from another thread."""
        return self._state

    def reset(self) -> None:
        """Restore the initial accounts and settings and forget records, faults and counters."""
        fresh = self._fresh_state()
        with self._state.lock:
            self._generation += 1
            self._state.accounts = fresh.accounts
            self._state.activation_delay = fresh.activation_delay
            self._state.camel_case = fresh.camel_case
            self._state.inclusion_cost = fresh.inclusion_cost
            self._state.records.clear()
            self._state.faults.clear()
            self._state.calls.clear()

    def set_fault(self, operation: str, fault: Fault | None) -> None:
        """Make ``operation`` (or ``"*"`` for all) misbehave; ``None`` clears it."""
        if operation != "*" and operation not in OPERATIONS:
            raise ValueError(f"unknown operation: {operation}")
        with self._state.lock:
            if fault is None:
                self._state.faults.pop(operation, None)
            else:
                self._state.faults[operation] = fault

    def add_account(self, email: str, password: str, balance: Decimal = DEFAULT_BALANCE) -> None:
        """Create (or replace) an account."""
        with self._state.lock:
            self._state.accounts[email.lower()] = Account(password=password, balance=Decimal(balance))

    def set_balance(self, email: str, balance: Decimal) -> None:
        """Set an account's credit."""
        with self._state.lock:
            self._state.accounts[email.lower()].balance = Decimal(balance)

    def snapshot(self) -> dict[str, Any]:
        """Return the state as JSON-ready data, without passwords."""
        with self._state.lock:
            state = self._state
            return {
                "accounts": {email: {"balance": str(a.balance)} for email, a in state.accounts.items()},
                "records": [_jsonable(asdict(r)) for r in state.records.values()],
                "faults": {op: asdict(f) for op, f in state.faults.items()},
                "activation_delay": state.activation_delay,
                "camel_case": state.camel_case,
                "inclusion_cost": str(state.inclusion_cost),
                "calls": dict(state.calls),
                "connections": state.connections,
            }

    # -------------------------------------------------------------------------------------- plumbing

    def _fresh_state(self) -> SandboxState:
        initial = self._initial
        return SandboxState(
            accounts={
                email.lower(): Account(password=password, balance=initial["balance"])
                for email, password in initial["accounts"].items()
            },
            activation_delay=initial["activation_delay"],
            camel_case=initial["camel_case"],
            inclusion_cost=initial["inclusion_cost"],
        )

    def _bind(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping = threading.Event()
        # Bind here, so that a busy port raises OSError to the caller (Werkzeug would print and exit), and
        # without HTTPServer's reverse DNS lookup of the host name.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(_WSGIServer.request_queue_size)
            self._httpd = _WSGIServer(
                self.host, self.port, self.wsgi_app, handler=_RequestHandler, fd=listener.fileno()
            )
            self._httpd.on_connect = self._count_connection
        if not _is_loopback(self.host):
            logger.warning("SOA sandbox bound to %s: it is reachable beyond this machine", self.host)
        logger.info("SOA sandbox listening on %s (account %s)", self.url, ", ".join(self._state.accounts))

    def _count_connection(self) -> None:
        with self._state.lock:
            self._state.connections += 1

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _handle_operation(self, operation: str, raw: bytes) -> _Reply:
        """Answer one contract call, applying the operation's fault."""
        with self._state.lock:
            self._state.calls[operation] += 1
            fault = self._take_fault(operation)
            generation = self._generation
        self._pause(fault.latency)
        if fault.status_5xx:
            return _Reply(503, _HTML_503, "text/html; charset=utf-8", code="HTTP 503")
        try:
            request = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            request = None
        with self._state.lock:
            if generation != self._generation or self._stopping.is_set():
                # A reset or stop happened while this request was delayed: it belongs to a world that is
                # gone (e.g. a previous test), so it must not create records in the new one.
                return _Reply(drop=True, code="discarded")
            answer = self._process(operation, request)
        code = answer["Transacao"]["CodigoStatus"]
        if fault.echo_request:
            answer["Requisicao"] = request
        if fault.missing_transacao:
            del answer["Transacao"]
        self._pause(fault.timeout)
        if fault.drop:
            return _Reply(drop=True, code=code)
        if fault.non_json:
            return _Reply(200, _HTML_GARBAGE, "text/html; charset=utf-8", code=code)
        if self._state.camel_case:
            answer = _camel_keys(answer)
        return _Reply(200, _dumps(answer), code=code)

    def _handle_control(self, method: str, path: str, raw: bytes) -> _Reply:
        """Answer a ``/_sandbox/`` request: state, faults, settings, reset."""
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return _Reply(400, _dumps({"erro": "corpo JSON inválido"}))
        try:
            if method == "GET" and path == "/_sandbox/state":
                pass
            elif method == "POST" and path == "/_sandbox/reset":
                self.reset()
            elif method == "POST" and path == "/_sandbox/faults":
                if not isinstance(data, dict):
                    raise ValueError("esperado um objeto operação → falha")
                for operation, spec in data.items():
                    self.set_fault(operation, None if spec is None else Fault.from_dict(spec))
            elif method == "POST" and path == "/_sandbox/settings":
                self._apply_settings(data)
            else:
                return _Reply(404, _dumps({"erro": "rota de controle desconhecida"}))
        except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
            return _Reply(400, _dumps({"erro": str(exc)}))
        return _Reply(200, _dumps(self.snapshot()))

    def _apply_settings(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("esperado um objeto")
        unknown = set(data) - {"activation_delay", "camel_case", "balances"}
        if unknown:
            raise ValueError(f"configurações desconhecidas: {', '.join(sorted(unknown))}")
        with self._state.lock:
            if "activation_delay" in data:
                self._state.activation_delay = float(data["activation_delay"])
            if "camel_case" in data:
                self._state.camel_case = bool(data["camel_case"])
            for email, amount in (data.get("balances") or {}).items():
                self.set_balance(email, Decimal(str(amount)))

    def _take_fault(self, operation: str) -> Fault:
        """Return the fault for this request (specific before ``*``), counting down ``times``."""
        faults = self._state.faults
        key = operation if operation in faults else "*" if "*" in faults else None
        if key is None:
            return Fault()
        fault = faults[key]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del faults[key]
        return fault

    # ----------------------------------------------------------------------------------- operations

    def _process(self, operation: str, request: Any) -> dict[str, Any]:
        """Run one operation under the lock and return the answer (PascalCase)."""
        if not isinstance(request, dict):
            return _refusal(CODE_BAD_REQUEST, "Requisição inválida: esperado um objeto JSON.")
        credentials = _get(request, "Credenciais")
        email = str(_get(credentials, "Email") or "").strip().lower()
        account = self._state.accounts.get(email)
        if account is None or _get(credentials, "Senha") != account.password:
            return _refusal(CODE_BAD_CREDENTIALS, "Usuario/Senha Invalidos")
        handler = getattr(self, f"_op_{operation}")
        return handler(email, account, request)

    def _op_balance(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        return _success({"Saldo": account.balance})

    def _op_restriction_codes(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        return _success({"Codigos": [{"Codigo": c, "Descricao": d} for c, d in RESTRICTION_CODES]})

    def _op_exclusion_codes(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        return _success({"Codigos": [{"Codigo": c, "Descricao": d} for c, d in EXCLUSION_CODES]})

    def _op_include(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        debtor = _get(request, "Devedor")
        address = _get(debtor, "Endereco")
        restriction = _get(request, "Restricao")
        creditor = _get(request, "Credor")
        required = {
            "Devedor.Documento": _get(debtor, "Documento"),
            "Devedor.Nome": _get(debtor, "Nome"),
            "Devedor.Endereco.Logradouro": _get(address, "Logradouro"),
            "Devedor.Endereco.Numero": _get(address, "Numero"),
            "Devedor.Endereco.Bairro": _get(address, "Bairro"),
            "Devedor.Endereco.Cidade": _get(address, "Cidade"),
            "Devedor.Endereco.UF": _get(address, "UF"),
            "Devedor.Endereco.CEP": _get(address, "CEP"),
            "Restricao.CodigoRestricao": _get(restriction, "CodigoRestricao"),
            "Restricao.Contrato": _get(restriction, "Contrato"),
            "Restricao.DataVencimento": _get(restriction, "DataVencimento"),
            "Restricao.Valor": _get(restriction, "Valor"),
            "Credor.Documento": _get(creditor, "Documento"),
            "Credor.Nome": _get(creditor, "Nome"),
        }
        missing = [name for name, value in required.items() if value is None or str(value).strip() == ""]
        if missing:
            return _refusal(CODE_INVALID_FIELD, f"Campos obrigatórios ausentes: {', '.join(missing)}.")
        document = _digits(required["Devedor.Documento"])
        if not _is_valid_document(document):
            return _refusal(CODE_INVALID_DOCUMENT, "Documento do devedor invalido")
        creditor_document = _digits(required["Credor.Documento"])
        if not _is_valid_document(creditor_document):
            return _refusal(CODE_INVALID_DOCUMENT, "Documento do credor invalido")
        problem, fields_ = _validate_inclusion(required, _get(debtor, "DataNascimento"))
        if problem:
            return _refusal(CODE_INVALID_FIELD, problem)
        contract = str(required["Restricao.Contrato"]).strip()
        for record in self._state.records.values():
            if (
                record.account == email
                and record.document == document
                and record.contract == contract
                and record.creditor_document == creditor_document
                and record.status in (STATUS_PENDING, STATUS_ACTIVE)
            ):
                return _refusal(
                    CODE_DUPLICATE,
                    "Já existe negativação pendente ou ativa para este devedor e contrato "
                    f"({record.unique_id}).",
                )
        cost = self._state.inclusion_cost
        if account.balance < cost:
            return _refusal(
                CODE_NO_CREDIT,
                f"Saldo insuficiente: compre créditos para continuar (saldo R$ {_brl(account.balance)}, "
                f"custo R$ {_brl(cost)}).",
            )
        account.balance -= cost
        record = SandboxRecord(
            unique_id=uuid.uuid4().hex,
            account=email,
            document=document,
            name=str(required["Devedor.Nome"]).strip(),
            birth_date=fields_["birth_date"],
            address={key.rsplit(".", 1)[1]: str(v) for key, v in required.items() if ".Endereco." in key}
            | {"Complemento": str(_get(address, "Complemento") or "")},
            restriction_code=str(required["Restricao.CodigoRestricao"]),
            contract=contract,
            due_date=fields_["due_date"],
            amount=fields_["amount"],
            creditor_document=creditor_document,
            creditor_name=str(required["Credor.Nome"]).strip(),
            created_at=_now(),
            created_monotonic=time.monotonic(),
        )
        self._state.records[record.unique_id] = record
        return _success({"UniqueID": record.unique_id, "Situacao": record.status})

    def _op_consult(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        unique_id = str(_get(request, "UniqueID") or "").strip()
        document = _digits(_get(request, "Documento"))
        contract = str(_get(request, "Contrato") or "").strip()
        if unique_id:
            record = self._state.records.get(unique_id)
            if record is None or record.account != email:
                return _refusal(CODE_NOT_FOUND, f"Negativação não encontrada para o UniqueID {unique_id}.")
        elif document and contract:
            matches = [
                r for r in self._own_records(email) if r.document == document and r.contract == contract
            ]
            if not matches:
                return _refusal(CODE_NOT_FOUND, "Nenhuma negativação para este documento e contrato.")
            record = max(matches, key=lambda r: r.created_monotonic)
        else:
            return _refusal(CODE_INVALID_FIELD, "Informe o UniqueID, ou o Documento e o Contrato.")
        self._advance(record)
        return _success(record.as_answer())

    def _op_list(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        condition = str(_get(request, "Condicao") or "").strip()
        document = _digits(_get(request, "Documento"))
        contract = str(_get(request, "Contrato") or "").strip()
        wanted = None
        if condition:
            wanted = CONDITIONS.get(condition.lower())
            if wanted is None:
                options = ", ".join(LIST_CONDITIONS)
                return _refusal(CODE_INVALID_FIELD, f"Condicao inválida: {condition} (use {options}).")
        records = []
        for record in self._own_records(email):
            self._advance(record)
            if (
                (wanted is None or record.status == wanted)
                and (not document or record.document == document)
                and (not contract or record.contract == contract)
            ):
                records.append(record.as_answer())
        return _success({"Negativacoes": records})

    def _op_exclude(self, email: str, account: Account, request: dict[str, Any]) -> dict[str, Any]:
        unique_id = str(_get(request, "UniqueID") or "").strip()
        code = str(_get(request, "CodigoBaixa") or "").strip()
        description = str(_get(request, "BaixaDescricao") or "").strip()
        if not unique_id:
            return _refusal(CODE_INVALID_FIELD, "Campo obrigatório ausente: UniqueID.")
        codes = {str(c): d for c, d in EXCLUSION_CODES}
        if code not in codes:
            return _refusal(CODE_INVALID_FIELD, f"CodigoBaixa inválido: {code or '(vazio)'}.")
        record = self._state.records.get(unique_id)
        if record is None or record.account != email:
            return _refusal(CODE_NOT_FOUND, f"Negativação não encontrada para o UniqueID {unique_id}.")
        if record.status in (STATUS_ERROR, STATUS_UNAVAILABLE):
            return _refusal(
                CODE_NOT_EXCLUDABLE,
                f"Negativação na situação {record.status} não está no Serasa; nada a baixar.",
            )
        if record.status != STATUS_CLEARED:
            # Already cleared: answer the same again, so that the client may safely retry.
            record.status = STATUS_CLEARED
            record.excluded_at = _now()
            record.exclusion_code = code
            record.exclusion_description = description or codes[code]
            record.message = f"Baixa registrada: {codes[code]}."
        return _success(
            {
                "UniqueID": record.unique_id,
                "DocumentoCredor": record.creditor_document,
                "NomeCredor": record.creditor_name,
                "DocumentoDevedor": record.document,
                "NomeDevedor": record.name,
                "CodigoRestricao": record.restriction_code,
                "RestricaoDescricao": dict(RESTRICTION_CODES).get(record.restriction_code, ""),
                "CodigoBaixa": int(record.exclusion_code or code),
                "BaixaDescricao": record.exclusion_description,
                "Valor": record.amount,
                "DataHoraExclusao": _iso(record.excluded_at),
            }
        )

    def _own_records(self, email: str) -> list[SandboxRecord]:
        return [r for r in self._state.records.values() if r.account == email]

    def _advance(self, record: SandboxRecord) -> None:
        """Let the "bureau" decide on a pending record once the activation delay has passed."""
        if record.status != STATUS_PENDING:
            return
        if time.monotonic() - record.created_monotonic < self._state.activation_delay:
            return
        reason = REFUSED_DOCUMENTS.get(record.document)
        if reason is None and record.birth_date is not None and _age(record.birth_date) < 18:
            reason = "Devedor menor de idade não pode ser negativado."
        if reason:
            record.status = STATUS_ERROR
            record.message = reason
        else:
            record.status = STATUS_ACTIVE
            record.included_at = _now()
            record.message = "Negativação incluída no Serasa."


    # ------------------------------------------------------------------------------------------ HTTP

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The sandbox as a WSGI application: the contract's operations and the ``/_sandbox/`` controls."""
        start = time.monotonic()
        request = Request(environ)
        path = request.path
        raw = request.get_data(cache=False)[:_MAX_BODY]
        operation = _OPERATION_BY_PATH.get(path.lower().rstrip("/"))
        if path.startswith("/_sandbox/"):
            operation = "control"
            reply = self._handle_control(request.method, path.rstrip("/"), raw)
        elif operation is None:
            reply = _Reply(404, b"Not Found", "text/plain; charset=utf-8")
        elif request.method != "POST":
            reply = _Reply(405, b"Method Not Allowed", "text/plain; charset=utf-8")
        else:
            reply = self._handle_operation(operation, raw)
        outcome = "dropped" if reply.drop else f"HTTP {reply.status}"
        logger.info(
            "SOA sandbox %s %s -> %s %s (%d ms)",
            operation or "?",
            path,
            outcome,
            reply.code,
            (time.monotonic() - start) * 1000,
        )
        if reply.drop:
            # Close the socket without a byte of answer; the handler takes the ConnectionError as the end of the
            # connection and writes nothing.
            with contextlib.suppress(OSError):
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("SOA sandbox: connection dropped on purpose (fault)")
        return Response(reply.body, reply.status, content_type=reply.content_type)(environ, start_response)


class _WSGIServer(ThreadedWSGIServer):
    #: Accept bursts of simultaneous connections (bulk inclusions), not socketserver's default of 5.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_connect: Any = None
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._closing = False

    def opened(self, connection: socket.socket) -> None:
        with self._open_lock:
            if self._closing:  # accepted just before the stop: answer nothing on it either
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                return
            self._open.add(connection)
        if self.on_connect is not None:
            self.on_connect()

    def closed(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        """Close the connections kept alive, so that a stopped sandbox answers nothing more on them."""
        with self._open_lock:
            self._closing = True
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) makes the late answer fail; that is expected here.
        logger.debug("SOA sandbox: client %s went away", client_address[0], exc_info=True)


class _RequestHandler(WSGIRequestHandler):
    #: Keep-alive, as production web servers answer: many requests per connection (see ``run_wsgi``).
    protocol_version = "HTTP/1.1"
    server_version = "SOASandbox/1.0"
    #: An idle connection is closed after this many seconds (and a client that stops mid-request too).
    timeout = 30
    server: _WSGIServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def make_environ(self) -> Any:
        """Read the whole body before the application runs, so the next request starts where it ends."""
        environ = super().make_environ()
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or ["0"]}
        length = lengths.pop() if len(lengths) == 1 else ""
        if environ.get("wsgi.input_terminated") or not length.isdigit() or int(length) > _MAX_BODY:
            # A chunked, oversized or ambiguous body is not buffered: no next request on this connection.
            self.close_connection = True
            return environ
        if self.headers.get("Expect", "").strip().lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ["CONTENT_LENGTH"] = length
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
        return environ

    def run_wsgi(self) -> None:
        """Answer one request and leave the connection open for the next one.

        Werkzeug's own ``run_wsgi`` closes every connection and then drains the socket, which would eat the next
        request; the sandbox's answers are whole byte strings, so they are sent with their length instead.
        """
        environ = self.make_environ()
        reply: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            reply[:] = [status, headers]
            return None

        try:
            body = b"".join(self.server.app(environ, start_response))
        except ConnectionError:  # a ``drop`` fault: the socket is already shut, nothing is written
            self.close_connection = True
            return
        except Exception:  # a bug in the sandbox: say so, and answer 500 as Werkzeug's server would
            logger.exception("SOA sandbox: error answering %s %s", self.command, self.path)
            self.close_connection = True
            body, reply[:] = b"Internal Server Error", ["500 INTERNAL SERVER ERROR",
                                                         [("Content-Type", "text/plain; charset=utf-8")]]
        code, _, message = reply[0].partition(" ")
        self.send_response(int(code), message)
        for key, value in reply[1]:
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Every call is already logged, without its body, by the application."""

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("SOA sandbox http: " + message, *args)


# -------------------------------------------------------------------------------------------- helpers


def _success(fields_: dict[str, Any]) -> dict[str, Any]:
    return {
        "Status": True,
        "Mensagem": "Transacao realizada com sucesso",
        **fields_,
        "Transacao": {
            "Status": True,
            "CodigoStatus": CODE_SUCCESS,
            "CodigoStatusDescricao": "Transacao realizada com sucesso",
        },
    }


def _refusal(code: str, description: str) -> dict[str, Any]:
    return {
        "Status": False,
        "Mensagem": description,
        "Transacao": {"Status": False, "CodigoStatus": code, "CodigoStatusDescricao": description},
    }


def _validate_inclusion(required: dict[str, Any], birth: Any) -> tuple[str | None, dict[str, Any]]:
    """Check the inclusion's values; return (pt-BR problem or None, parsed values)."""
    parsed: dict[str, Any] = {"birth_date": None}
    uf = str(required["Devedor.Endereco.UF"]).strip().upper()
    if uf not in UFS:
        return f"UF inválida: {uf}.", parsed
    if len(_digits(required["Devedor.Endereco.CEP"])) != 8:
        return "CEP inválido: informe 8 dígitos.", parsed
    if str(required["Restricao.CodigoRestricao"]) not in dict(RESTRICTION_CODES):
        return f"CodigoRestricao desconhecido: {required['Restricao.CodigoRestricao']}.", parsed
    try:
        due = date.fromisoformat(str(required["Restricao.DataVencimento"]))
    except ValueError:
        return "DataVencimento inválida: use aaaa-mm-dd.", parsed
    today = date.today()
    if due >= today:
        return "DataVencimento deve ser anterior a hoje: só dívidas vencidas podem ser negativadas.", parsed
    if due < _years_before(today, 5):
        return "Dívida vencida há mais de 5 anos não pode ser negativada (CDC art. 43, § 1º).", parsed
    parsed["due_date"] = due
    value = required["Restricao.Valor"]
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else Decimal("NaN")
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        return "Valor inválido: informe um número maior que zero.", parsed
    parsed["amount"] = amount.quantize(Decimal("0.01"))
    if birth not in (None, ""):
        try:
            parsed["birth_date"] = date.fromisoformat(str(birth))
        except ValueError:
            return "DataNascimento inválida: use aaaa-mm-dd.", parsed
    return None, parsed


def _get(mapping: Any, key: str) -> Any:
    """Read ``key`` from a JSON object regardless of its case; None when absent."""
    if not isinstance(mapping, dict):
        return None
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for name, value in mapping.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def _digits(value: Any) -> str:
    return only_digits(str(value or ""))


def _check_digit(digits: str, weights: range | list[int]) -> int:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _is_valid_document(document: str) -> bool:
    """Check a CPF (11 digits) or CNPJ (14 digits) with the mod-11 check digits."""
    if len(set(document)) == 1:
        return False
    if len(document) == 11:
        first = _check_digit(document[:9], range(10, 1, -1))
        second = _check_digit(document[:10], range(11, 1, -1))
        return document[9:] == f"{first}{second}"
    if len(document) == 14:
        first = _check_digit(document[:12], [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
        second = _check_digit(document[:13], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
        return document[12:] == f"{first}{second}"
    return False


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age(birth: date) -> int:
    today = date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _now() -> datetime:
    """Return the current time in Brasília (UTC-3), as SOA's servers would stamp it."""
    return datetime.now(UTC).astimezone(_BRASILIA).replace(microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _brl(amount: Decimal) -> str:
    return format_decimal(amount, format="#,##0.00", locale="pt_BR")


def _camel(key: str) -> str:
    """Turn a PascalCase key into camelCase as SOA v2 does: ``UniqueID`` → ``uniqueID``, ``UF`` → ``uf``."""
    return key.lower() if key.isupper() else key[:1].lower() + key[1:]


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(str(k)): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _dumps(value: Any) -> bytes:
    """Encode an answer as UTF-8 JSON."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    """Serialise JSON, writing Decimals as exact numbers (``100.00``, not ``100.0``)."""
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_encode(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return json.dumps(value.isoformat())
    return json.dumps(value, ensure_ascii=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ entry point


def serve(
    host: str = "127.0.0.1",
    port: int = 5001,
    activation_delay: float = DEFAULT_ACTIVATION_DELAY,
    *,
    camel_case: bool = False,
    accounts: dict[str, str] | None = None,
    balance: Decimal = DEFAULT_BALANCE,
) -> None:
    """Run the sandbox in the foreground until Ctrl+C."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    SandboxServer(
        host,
        port,
        activation_delay=activation_delay,
        camel_case=camel_case,
        accounts=accounts,
        balance=balance,
    ).serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Parse command-line options and run ``serve()``."""
    parser = argparse.ArgumentParser(description="Sandbox local da SOA WebServices (negativação Serasa).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--activation-delay", type=float, default=DEFAULT_ACTIVATION_DELAY)
    parser.add_argument("--camel-case", action="store_true", help="responder em camelCase (como a API v2)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.activation_delay, camel_case=args.camel_case)


if __name__ == "__main__":
    main()
