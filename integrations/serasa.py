"""Talk to SOA WebServices (Serasa PEFIN distributor) over its REST v2 JSON API.

The contract is ``docs/soa-api.md``: every call is a JSON ``POST`` carrying
``{"Credenciais": {"Email", "Senha"}}``, and business success is ``Transacao.Status``, never the
HTTP status alone. Answers arrive PascalCase (v1) or camelCase (v2), so every key is read
case-insensitively.

Failures become typed errors (subclasses of :class:`SerasaError`) whose ``message`` is pt-BR text
for the user. ``outcome_unknown`` tells whether the request may have taken effect at SOA although
no definitive answer came back (timeout, dropped connection, 5xx, unreadable answer): for an
inclusion that means "reconcile with ``list``/``consult`` by document and contract before
anything else", never "send again".

Retries are bounded (``max_retries``, exponential ``backoff``, no jitter) and only where repeating
is safe: reads and ``exclude`` (keyed by the UniqueID) after a 5xx, timeout or dropped connection;
every operation, ``include`` too, when the TCP connection was never established (refused, DNS,
connect timeout), because then nothing reached SOA. ``include`` is never repeated once it may have
arrived. Business refusals and unreadable answers are never retried.

This module depends on the standard library, ``requests``, the wire table it shares with the sandbox
(``integrations/soa_api.py``) and the digit helper of ``models/documents.py``; it knows nothing about
Flask or the ORM. Workflows that map debts to inclusions live elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.soa_api import BASE_URLS, CODE_BAD_CREDENTIALS, LIST_CONDITIONS, PATHS
from models.documents import only_digits as _digits

__all__ = [
    "LIST_CONDITIONS",
    "RETRY_SAFE_OPERATIONS",
    "BureauStatus",
    "CallRecord",
    "Code",
    "ConsultResult",
    "InclusionRequest",
    "SerasaBadCredentials",
    "SerasaClient",
    "SerasaError",
    "SerasaMalformed",
    "SerasaNoCredit",
    "SerasaRefused",
    "SerasaTimeout",
    "SerasaUnavailable",
]

logger = logging.getLogger(__name__)

#: Operations that may be repeated after a timeout, a dropped connection or a 5xx: reads, and the
#: exclusion, which is keyed by the UniqueID (docs/soa-api.md, "Rules the client keeps"). ``include`` is
#: deliberately absent: a repeated inclusion may negativate a debtor twice.
RETRY_SAFE_OPERATIONS = frozenset(
    {"balance", "restriction_codes", "exclusion_codes", "consult", "list", "exclude"}
)

#: SOA publishes no code for "no credit left", so the refusal is recognised by its wording
#: (accents stripped, lower case). Keep it narrow: "crédito" alone also names debt types.
_NO_CREDIT_PATTERN = re.compile(
    r"saldo\s+(insuficiente|esgotado|indisponivel)|sem\s+(saldo|creditos?)"
    r"|creditos?\s+(insuficientes?|esgotados?)|insuficiencia\s+de\s+(saldo|creditos?)"
)

#: Operations whose uncertain outcome matters to the user (they change state at the bureau).
_WRITE_OPERATIONS = frozenset({"include", "exclude"})

_MASK = "***"
_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
#: One encoder for every scalar (``json.dumps`` with options builds a new encoder per call).
_encode_scalar = json.JSONEncoder(ensure_ascii=False).encode
_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})
_RESPONSE_TEXT_LIMIT = 4000
_SERVICE = "SOA WebServices"


class BureauStatus(StrEnum):
    """Name the situations SOA reports for a negativation (``Situacao``)."""

    PENDING = "Pendente"
    ACTIVE = "Ativa"
    ERROR = "Erro"
    UNAVAILABLE = "Indisponivel"
    CLEARED = "Baixada"


_STATUS_ALIASES = {
    "pendente": BureauStatus.PENDING,
    "pendentes": BureauStatus.PENDING,
    "ativa": BureauStatus.ACTIVE,
    "ativas": BureauStatus.ACTIVE,
    "ativo": BureauStatus.ACTIVE,
    "erro": BureauStatus.ERROR,
    "indisponivel": BureauStatus.UNAVAILABLE,
    "indiponivel": BureauStatus.UNAVAILABLE,  # the legacy SOAP enum spells it so
    "baixada": BureauStatus.CLEARED,
    "baixadas": BureauStatus.CLEARED,
    "excluida": BureauStatus.CLEARED,
}


# --------------------------------------------------------------------------------------------- errors


class SerasaError(Exception):
    """Base of every failure talking to SOA WebServices; ``str()`` is the pt-BR ``message``."""

    #: True when the request may have reached SOA and taken effect without a definitive answer.
    outcome_unknown: bool = False

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        http_status: int | None = None,
        outcome_unknown: bool | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.http_status = http_status
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown
        #: Technical cause for logs (already free of the password); not meant for the user.
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class SerasaBadCredentials(SerasaError):
    """Signal that SOA refused the e-mail/password (``G000M000``): stop and tell the admin."""


class SerasaNoCredit(SerasaError):
    """Signal that the SOA account has no credit left for the operation."""


class SerasaRefused(SerasaError):
    """Signal a business refusal (``Transacao.Status`` false), keeping SOA's code and description."""

    def __init__(self, message: str, *, code: str, description: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code
        self.description = description


class SerasaUnavailable(SerasaError):
    """Signal that SOA could not be reached or answered 5xx."""


class SerasaTimeout(SerasaError):
    """Signal a read timeout or a connection dropped after sending: the outcome is unknown."""

    outcome_unknown = True


class SerasaMalformed(SerasaError):
    """Signal an answer that is not JSON or lacks the ``Transacao`` block."""


# ----------------------------------------------------------------------------------------------- DTOs


@dataclass(frozen=True)
class Code:
    """Hold one entry of SOA's restriction or exclusion (baixa) code tables."""

    code: str
    description: str


@dataclass(frozen=True, kw_only=True)
class InclusionRequest:
    """Describe one PEFIN inclusion; ``as_body()`` builds the JSON body (without credentials)."""

    document: str
    name: str
    birth_date: date | None = None
    street: str
    number: str
    complement: str = ""
    neighbourhood: str
    city: str
    uf: str
    cep: str
    restriction_code: str
    contract: str
    due_date: date
    amount: Decimal
    creditor_document: str
    creditor_name: str

    def as_body(self) -> dict[str, Any]:
        """Build the ``Devedor``/``Restricao``/``Credor`` part of the ``Inserir`` body."""
        amount = Decimal(self.amount)
        if not amount.is_finite():
            raise ValueError("amount must be a finite number")
        debtor: dict[str, Any] = {"Documento": _digits(self.document), "Nome": self.name.strip()}
        if self.birth_date is not None:
            debtor["DataNascimento"] = self.birth_date.isoformat()
        debtor["Endereco"] = {
            "Logradouro": self.street.strip(),
            "Numero": str(self.number).strip(),
            "Complemento": (self.complement or "").strip(),
            "Bairro": self.neighbourhood.strip(),
            "Cidade": self.city.strip(),
            "UF": self.uf.strip().upper(),
            "CEP": _digits(self.cep),
        }
        return {
            "Devedor": debtor,
            "Restricao": {
                "CodigoRestricao": str(self.restriction_code),
                "Contrato": str(self.contract).strip(),
                "DataVencimento": self.due_date.isoformat(),
                # Decimal on purpose: the encoder writes it as a JSON number with exactly 2 decimals.
                "Valor": amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
            },
            "Credor": {"Documento": _digits(self.creditor_document), "Nome": self.creditor_name.strip()},
        }


@dataclass(frozen=True)
class ConsultResult:
    """Hold the situation of one negativation as ``Consultar`` reports it."""

    unique_id: str
    #: A :class:`BureauStatus` value when recognised, else SOA's raw ``Situacao``.
    status: str
    message: str
    included_at: datetime | None
    excluded_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CallRecord:
    """Describe one HTTP attempt for the audit trail; never holds the password."""

    operation: str
    url: str
    request_body: dict[str, Any]
    http_status: int | None
    response_text: str
    latency_ms: int
    #: ``"ok"`` or the name of the :class:`SerasaError` subclass raised for this attempt.
    result: str
    attempt: int
    #: pt-BR message of the error, when there was one.
    message: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class _Secret:
    """Keep a secret out of ``repr()``, ``vars()`` dumps and debuggers' summaries."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        """Return the secret itself."""
        return self._value

    def __repr__(self) -> str:
        return repr(_MASK)


# --------------------------------------------------------------------------------------------- client


class SerasaClient:
    """Call SOA WebServices' negativation API with timeouts, safe retries and typed errors.

    ``recorder`` receives a :class:`CallRecord` for every attempt (password masked); a failing
    recorder is logged and ignored, so that an accepted inclusion's UniqueID is never lost to it.
    Retries are done here, so a ``session`` passed in should not retry on its own.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        timeout: tuple[float, float] = (3.05, 20.0),
        paths: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        recorder: Callable[[CallRecord], None] | None = None,
        max_retries: int = 2,
        backoff: float = 0.25,
        pool_size: int = 10,
    ) -> None:
        if max_retries < 0 or backoff < 0:
            raise ValueError("max_retries and backoff must not be negative")
        self.base_url = BASE_URLS.get(base_url, base_url).rstrip("/")
        self.email = email
        self._password = _Secret(password)
        #: The password as it may be echoed: raw and JSON-escaped (ASCII or not), kept out of repr() too.
        forms = {password, json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1]}
        self._secret_forms = _Secret(forms if password else set())
        self.timeout = timeout
        self.paths = {**PATHS, **(paths or {})}
        self.recorder = recorder
        self.max_retries = max_retries
        self.backoff = backoff
        self._owns_session = session is None
        self.session = session or requests.Session()
        if self._owns_session:
            # Proxy and CA settings are read from the environment once, here, not on every call (requests scans
            # the whole environment per request otherwise: a fifth of a call's CPU in a bulk inclusion).
            self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                self.session.verify = bundle
            self.session.trust_env = False
        self._templates: dict[str, requests.PreparedRequest] = {}
        if self._owns_session and pool_size > 10:
            # Keep one keep-alive connection per concurrent caller (bulk inclusions run in parallel threads);
            # retries stay ours (urllib3's own are off).
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, email={self.email!r})"

    def __enter__(self) -> SerasaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    # ----------------------------------------------------------------------------------- operations

    def balance(self) -> Decimal:
        """Return the account's balance in R$."""
        answer = self._call("balance", {})
        value = _decimal(answer.get("Saldo"))
        if value is None:
            raise self._malformed("balance", "sem o campo Saldo")
        return value

    def restriction_codes(self) -> list[Code]:
        """Return the restriction (nature of debt) codes accepted by ``include``."""
        return self._codes("restriction_codes")

    def exclusion_codes(self) -> list[Code]:
        """Return the exclusion (baixa) codes accepted by ``exclude``."""
        return self._codes("exclusion_codes")

    def include(self, req: InclusionRequest) -> str:
        """Send one PEFIN inclusion and return its UniqueID; never retried once it may have arrived."""
        answer = self._call("include", req.as_body())
        unique_id = answer.get("UniqueID")
        if not unique_id:
            # SOA said yes but gave no handle: the record may exist, reconcile before resending.
            raise self._malformed("include", "sem o UniqueID", outcome_unknown=True)
        return str(unique_id)

    def consult(self, unique_id: str) -> ConsultResult:
        """Return the current situation of one negativation."""
        answer = self._call("consult", {"UniqueID": unique_id})
        # Some answers nest the record (v2 style); read it from there when present.
        record = answer.get("Negativacao")
        if not isinstance(record, Mapping):
            record = answer
        situation = record.get("Situacao")
        if not situation:
            raise self._malformed("consult", "sem o campo Situacao")
        return ConsultResult(
            unique_id=str(record.get("UniqueID") or unique_id),
            status=_normalise_status(str(situation)),
            message=str(record.get("Mensagem") or answer.get("Mensagem") or ""),
            included_at=_parse_datetime(record.get("DataInclusao")),
            excluded_at=_parse_datetime(record.get("DataBaixa") or record.get("DataHoraExclusao")),
            raw=answer,
        )

    def exclude(self, unique_id: str, code: str | int, description: str) -> str | None:
        """Ask for the exclusion (baixa) of a negativation; return SOA's ``DataHoraExclusao``."""
        # The one public v2 example sends CodigoBaixa as a number; keep non-numeric codes as text.
        code_value: str | int = int(code) if str(code).isdigit() else code
        answer = self._call(
            "exclude", {"UniqueID": unique_id, "CodigoBaixa": code_value, "BaixaDescricao": description}
        )
        excluded_at = answer.get("DataHoraExclusao")
        return str(excluded_at) if excluded_at else None

    def list(
        self, condition: str | None = None, *, document: str | None = None, contract: str | None = None
    ) -> list[Mapping[str, Any]]:
        """Return negativations in ``condition`` and/or of one debtor document and contract.

        Records are case-insensitive mappings (``rec["UniqueID"]`` and ``rec["uniqueId"]`` both work).
        Look up by ``document`` and ``contract`` to reconcile an inclusion whose outcome is unknown.
        """
        fields: dict[str, Any] = {}
        if condition is not None:
            fields["Condicao"] = condition
        if document is not None:
            fields["Documento"] = _digits(document)
        if contract is not None:
            fields["Contrato"] = contract
        answer = self._call("list", fields)
        records = answer.get("Negativacoes")
        if records is None:
            records = []
        if not isinstance(records, (list, tuple)) or not all(isinstance(r, Mapping) for r in records):
            raise self._malformed("list", "com a lista Negativacoes inválida")
        return list(records)

    # -------------------------------------------------------------------------------------- plumbing

    def _codes(self, operation: str) -> list[Code]:
        answer = self._call(operation, {})
        items = answer.get("Codigos")
        if not isinstance(items, (list, tuple)):
            raise self._malformed(operation, "sem a lista Codigos")
        codes = []
        for item in items:
            if not isinstance(item, Mapping) or item.get("Codigo") in (None, ""):
                raise self._malformed(operation, "com um código sem valor")
            codes.append(Code(str(item.get("Codigo")), str(item.get("Descricao") or "")))
        return codes

    def _call(self, operation: str, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST one operation, retrying only where docs/soa-api.md says repeating is safe."""
        url = self.base_url + self.paths[operation]
        # The body is {"Credenciais": {...}, **fields}; the fields are encoded once, for the call and its log.
        fields_json = _encode_json(fields)[1:]
        fields_json = "," + fields_json if fields_json != "}" else fields_json

        def with_credentials(password: str) -> str:
            return '{"Credenciais":' + _encode_json({"Email": self.email, "Senha": password}) + fields_json

        payload = with_credentials(self._password.reveal()).encode("utf-8")
        masked_body = self._masked_body(with_credentials(_MASK))
        attempt = 1
        while True:
            try:
                return self._attempt(operation, url, payload, masked_body, attempt)
            except SerasaError as error:
                if attempt > self.max_retries or not _may_retry(operation, error):
                    raise
                delay = self.backoff * 2 ** (attempt - 1)
                logger.warning(
                    "SOA %s attempt %d failed (%s); retrying in %.2f s",
                    operation,
                    attempt,
                    type(error).__name__,
                    delay,
                )
                time.sleep(delay)
                attempt += 1

    def _attempt(
        self, operation: str, url: str, payload: bytes, masked_body: dict[str, Any], attempt: int
    ) -> Mapping[str, Any]:
        """Run one HTTP attempt, report it to the recorder and return the parsed answer or raise."""
        started_at = datetime.now(UTC)
        start = time.monotonic()
        http_status: int | None = None
        text = ""
        answer: Mapping[str, Any] | None = None
        error: SerasaError | None = None
        try:
            response = self.session.send(self._prepared(url, payload), timeout=self.timeout)
            http_status = response.status_code
            content = response.content
            text = self._mask(content.decode("utf-8", errors="replace"))
            answer = self._judge(operation, http_status, content)
        except requests.RequestException as exc:
            error = self._transport_error(operation, exc)
        except SerasaError as exc:
            error = exc
        latency_ms = round((time.monotonic() - start) * 1000)
        result = "ok" if error is None else type(error).__name__
        record = CallRecord(
            operation=operation,
            url=url,
            request_body=masked_body,
            http_status=http_status,
            response_text=text[:_RESPONSE_TEXT_LIMIT],
            latency_ms=latency_ms,
            result=result,
            attempt=attempt,
            message=None if error is None else error.message,
            started_at=started_at,
        )
        log = logger.info if error is None else logger.warning
        log("SOA %s attempt %d -> %s (HTTP %s, %d ms)", operation, attempt, result, http_status, latency_ms)
        if error is not None and error.detail:
            logger.debug("SOA %s attempt %d detail: %s", operation, attempt, error.detail)
        if text:
            logger.debug("SOA %s answer (masked): %s", operation, text[:_RESPONSE_TEXT_LIMIT])
        self._report(record)
        if error is not None:
            # No exception chaining: the requests exception holds the prepared request (and its body).
            raise error from None
        assert answer is not None
        return answer

    def _report(self, record: CallRecord) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder(record)
        except Exception:
            logger.exception("SOA call recorder failed for %s attempt %d", record.operation, record.attempt)

    def _judge(self, operation: str, http_status: int, content: bytes) -> Mapping[str, Any]:
        """Turn an HTTP answer into the parsed body, or raise the matching typed error."""
        if http_status >= 500:
            raise SerasaUnavailable(
                f"A {_SERVICE} está indisponível (HTTP {http_status}). "
                + (
                    _uncertainty(operation)
                    if operation in _WRITE_OPERATIONS
                    else "Tente novamente mais tarde."
                ),
                operation=operation,
                http_status=http_status,
                outcome_unknown=True,
            )
        try:
            data = json.loads(content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, Mapping):
            raise self._malformed(operation, f"que não é JSON (HTTP {http_status})", http_status=http_status)
        # Mask string values, so that nothing handed back (descriptions, records) can carry an echo.
        answer = _case_insensitive(self._mask_values(data))
        transaction = answer.get("Transacao")
        status = _bool(transaction.get("Status")) if isinstance(transaction, Mapping) else None
        if status is None:
            raise self._malformed(
                operation, f"sem o bloco Transacao (HTTP {http_status})", http_status=http_status
            )
        if status:
            return answer
        code = str(transaction.get("CodigoStatus") or "").strip()
        description = str(
            transaction.get("CodigoStatusDescricao") or answer.get("Mensagem") or "sem descrição"
        ).strip()
        if code == CODE_BAD_CREDENTIALS:
            raise SerasaBadCredentials(
                f"E-mail ou senha da {_SERVICE} inválidos ({code}). "
                "Confira as credenciais cadastradas para a assessoria antes de tentar de novo.",
                operation=operation,
                http_status=http_status,
            )
        if _NO_CREDIT_PATTERN.search(_fold(description)):
            raise SerasaNoCredit(
                f"A conta na {_SERVICE} está sem saldo para esta operação ({code or 'sem código'}: "
                f"{description}). Compre créditos e tente de novo.",
                operation=operation,
                http_status=http_status,
            )
        raise SerasaRefused(
            f"A {_SERVICE} recusou a operação ({code or 'sem código'}): {description}",
            code=code,
            description=description,
            operation=operation,
            http_status=http_status,
        )

    def _transport_error(self, operation: str, exc: requests.RequestException) -> SerasaError:
        """Map a requests exception, telling apart 'nothing was sent' from 'outcome unknown'."""
        detail = self._mask(f"{type(exc).__name__}: {exc}")
        reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
        if isinstance(reason, NewConnectionError) or isinstance(exc, requests.ConnectTimeout):
            # The TCP connection was never established (refused, DNS failure, connect timeout):
            # nothing reached SOA, so even an inclusion may be sent again.
            what = "conexão recusada ou servidor não encontrado"
            if isinstance(exc, requests.ConnectTimeout):
                what = f"sem resposta ao conectar em {_seconds(self._connect_timeout())}"
            return SerasaUnavailable(
                f"Não foi possível conectar à {_SERVICE} ({what}). Nada foi enviado; tente novamente "
                "mais tarde.",
                operation=operation,
                outcome_unknown=False,
                detail=detail,
            )
        if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
            return SerasaUnavailable(
                f"Não foi possível estabelecer a conexão com a {_SERVICE} (falha de TLS ou de proxy). "
                "Nada foi enviado.",
                operation=operation,
                outcome_unknown=False,
                detail=detail,
            )
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return SerasaUnavailable(
                f"O endereço configurado para a {_SERVICE} é inválido. Nada foi enviado.",
                operation=operation,
                outcome_unknown=False,
                detail=detail,
            )
        if isinstance(exc, requests.Timeout):
            message = f"A {_SERVICE} não respondeu em {_seconds(self._read_timeout())}."
        else:
            # Reset, remote disconnect, truncated body, or anything unexpected after sending:
            # assume the request arrived (the conservative choice for an inclusion).
            message = f"A conexão com a {_SERVICE} caiu antes da resposta."
        return SerasaTimeout(
            f"{message} {_uncertainty(operation)}",
            operation=operation,
            outcome_unknown=True,
            detail=detail,
        )

    def _malformed(
        self,
        operation: str,
        what: str,
        *,
        http_status: int | None = None,
        outcome_unknown: bool | None = None,
    ) -> SerasaMalformed:
        if outcome_unknown is None:
            # A 2xx answer may follow a request SOA carried out; a 4xx one was turned away.
            outcome_unknown = http_status is None or http_status < 400
        suffix = f" {_uncertainty(operation)}" if outcome_unknown and operation in _WRITE_OPERATIONS else ""
        return SerasaMalformed(
            f"A {_SERVICE} devolveu uma resposta inesperada, {what}.{suffix}",
            operation=operation,
            http_status=http_status,
            outcome_unknown=outcome_unknown,
        )

    def _prepared(self, url: str, payload: bytes) -> requests.PreparedRequest:
        """Return the POST of ``payload`` to ``url``: a copy of the URL's request, prepared once.

        ``Session.post`` would merge the session's settings and parse the URL again on every call, a third of a
        call's CPU in a bulk inclusion; ``Session.send`` still applies the session's proxies, CA and hooks. Cookies
        a server sets are not sent back (SOA's API is stateless: every call carries its credentials).
        """
        template = self._templates.get(url)
        if template is None:
            template = self.session.prepare_request(requests.Request("POST", url, headers=_HEADERS, data=b"{}"))
            self._templates[url] = template
        prepared = template.copy()
        prepared.body = payload
        prepared.headers["Content-Length"] = str(len(payload))
        return prepared

    def _masked_body(self, text: str) -> dict[str, Any]:
        """Return the request body (JSON) for the audit trail as data, with any echo of the password masked."""
        text = self._mask(text)
        try:
            return json.loads(text)
        except ValueError:  # the password matched JSON syntax; keep the masked text rather than leak
            return {"_masked_text": text}

    def _mask_values(self, value: Any) -> Any:
        """Mask the password inside every string of a parsed JSON value, keeping its structure."""
        if isinstance(value, str):
            return self._mask(value)
        if isinstance(value, Mapping):
            return {k: self._mask_values(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask_values(v) for v in value]
        return value

    def _mask(self, text: str) -> str:
        """Replace any echo of the password (raw or JSON-escaped) with ``***``."""
        for form in self._secret_forms.reveal():
            if form in text:
                text = text.replace(form, _MASK)
        return text

    def _connect_timeout(self) -> float:
        return self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout

    def _read_timeout(self) -> float:
        return self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout


# ------------------------------------------------------------------------------------------- helpers


def _may_retry(operation: str, error: SerasaError) -> bool:
    """Tell whether repeating ``operation`` after ``error`` is safe and may help."""
    if isinstance(error, SerasaUnavailable) and not error.outcome_unknown:
        # Nothing reached SOA (connection refused, DNS, connect timeout): safe for every operation,
        # including an inclusion, because the bureau never saw the first attempt.
        return True
    return operation in RETRY_SAFE_OPERATIONS and isinstance(error, (SerasaUnavailable, SerasaTimeout))


def _uncertainty(operation: str) -> str:
    """Say in pt-BR that ``operation`` may or may not have taken effect, and what to do."""
    if operation == "include":
        return (
            "O resultado é incerto: a negativação pode ter sido incluída. Confira pela consulta por "
            "documento e contrato antes de reenviar."
        )
    if operation == "exclude":
        return "O resultado é incerto: a baixa pode ter sido registrada. Confira a situação antes de repetir."
    return "O resultado é incerto; tente novamente."


def _case_insensitive(value: Any) -> Any:
    """Wrap every mapping in ``value`` so that keys are looked up case-insensitively."""
    if isinstance(value, Mapping):
        return CaseInsensitiveDict({str(k): _case_insensitive(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_case_insensitive(v) for v in value]
    return value


def _encode_json(value: Any) -> str:
    """Serialise a request body, writing Decimals as exact JSON numbers instead of floats."""
    if type(value) in _PLAIN_JSON:  # most values: no abstract-class checks
        return _encode_scalar(value)
    if isinstance(value, Mapping):
        items = (f"{_encode_scalar(str(k))}:{_encode_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return _encode_scalar(value)


def _seconds(value: float) -> str:
    """Write a duration the pt-BR way: ``0,3 s``."""
    return f"{value:g} s".replace(".", ",")


def _fold(text: str) -> str:
    """Lower-case and strip accents, for matching SOA's free-text messages."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _normalise_status(situation: str) -> str:
    return _STATUS_ALIASES.get(_fold(situation).strip(), situation.strip())


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if "," in value:  # pt-BR "1.234,56"
            value = value.replace(".", "").replace(",", ".")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _parse_datetime(value: Any) -> datetime | None:
    """Read ISO (v2) or dd/mm/yyyy [HH:MM[:SS]] (v1) timestamps; return None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    logger.warning("SOA sent an unreadable date: %r", text[:40])
    return None
