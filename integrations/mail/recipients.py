"""The hand-typed recipient list of the send screen: split, check (pt-BR reasons), normalise, de-duplicate.

Every reason is decided by our own checks of the address's parts, before email-validator is asked; its
refusals (whatever their wording) then only say the address is invalid.
"""

from __future__ import annotations

import re
import string

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from integrations.mail.text import is_control, printable

__all__ = ["MAX_RECIPIENTS", "RecipientError", "parse_recipients", "validate_address"]

#: Upper bound of addresses per send screen (RFC 5321 only guarantees 100 per transaction; providers
#: throttle bulk senders). Callers may pass a lower or higher ``max_count``.
MAX_RECIPIENTS = 30
#: RFC 5321 limits: a whole address (path minus the angle brackets) and one label of the domain.
MAX_ADDRESS_LENGTH = 254
MAX_LABEL_LENGTH = 63

_SEPARATORS = re.compile(r"[,;\s]+")
_HEADER_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:")
#: What an unquoted local part may hold (RFC 5322 atext, plus the dots between atoms).
_LOCAL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~.")


class RecipientError(ValueError):
    """Raised when a typed recipient list cannot be used; ``errors`` names each bad address."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[tuple[str, str]] = list(errors or [])

    def __str__(self) -> str:
        return self.message


def parse_recipients(text: str, max_count: int = MAX_RECIPIENTS) -> list[str]:
    """Split, validate and de-duplicate a hand-typed recipient list, or raise RecipientError."""
    tokens = [token for token in _SEPARATORS.split(text or "") if token]
    if not tokens:
        raise RecipientError("Informe ao menos um destinatário.")
    # A pasted address book must not make us validate thousands of entries before saying "too many".
    if len(tokens) > max(max_count * 10, 100):
        raise RecipientError(_too_many_message(max_count, len(tokens)))

    addresses: list[str] = []
    seen: set[str] = set()
    errors: list[tuple[str, str]] = []
    for token in tokens:
        address, reason = validate_address(token)
        if reason is not None:
            errors.append((printable(token), reason))
            continue
        assert address is not None
        key = address.casefold()
        if key not in seen:
            seen.add(key)
            addresses.append(address)

    if errors:
        listed = "; ".join(f"“{shown}” ({reason})" for shown, reason in errors)
        label = "Destinatário inválido" if len(errors) == 1 else "Destinatários inválidos"
        message = f"{label}: {listed}."
        if len(addresses) > max_count:
            message += " " + _too_many_message(max_count, len(addresses))
        raise RecipientError(message, errors)
    if len(addresses) > max_count:
        raise RecipientError(_too_many_message(max_count, len(addresses)))
    return addresses


def _too_many_message(max_count: int, count: int) -> str:
    return f"Informe no máximo {max_count} destinatários por envio (foram informados {count})."


def validate_address(token: str) -> tuple[str | None, str | None]:
    """Return (normalised address, None) or (None, pt-BR reason) for one token."""
    reason = _problem(token)
    if reason is not None:
        return None, reason
    try:
        # No DNS here (request path, and nothing may leave the host). The local part is ASCII by then (_problem):
        # an accented one breaks smtplib without SMTPUTF8 support on the relay.
        result = validate_email(token, check_deliverability=False)
    except EmailNotValidError:
        return None, "endereço de e-mail inválido"
    # ascii_email is what goes over SMTP (IDN domains as punycode) and what the ICS mailto carries.
    return result.ascii_email or result.normalized, None


def _problem(token: str) -> str | None:
    """The first thing wrong with the token, said in pt-BR; None when our checks find nothing."""
    if any(is_control(char) for char in token):
        return "contém caracteres de controle ou invisíveis"
    if token.lower().startswith("mailto:"):
        return "remova o prefixo “mailto:”"
    if _HEADER_LIKE.match(token):
        return "parece um cabeçalho de e-mail (como “Bcc:”), não um endereço"
    if token.startswith("<") or token.endswith(">"):
        return "informe só o endereço, sem nome nem os sinais < >"
    at_count = token.count("@")
    if at_count == 0:
        return "falta o @"
    if at_count > 1:
        return "contém mais de um @"
    local, domain = token.split("@")
    if not local:
        return "falta a parte antes do @"
    if not domain:
        return "falta o domínio depois do @"
    if not local.isascii():
        return "acentos ou caracteres especiais antes do @ não são aceitos"
    labels = domain.split(".")
    if len(token) > MAX_ADDRESS_LENGTH or any(len(label) > MAX_LABEL_LENGTH for label in labels):
        return "endereço longo demais"
    if ".." in token:
        return "há dois pontos seguidos"
    if local.startswith(".") or local.endswith(".") or domain.startswith(".") or domain.endswith("."):
        return "há um ponto no início, no fim ou ao lado do @"
    if set(local) - _LOCAL_CHARACTERS or not all(char.isalnum() or char == "-" for label in labels for char in label):
        return "contém caracteres não permitidos"
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return "o domínio não pode começar nem terminar com hífen"
    if len(labels) < 2:
        return "domínio incompleto (exemplo: empresa.com.br)"
    if labels[-1].casefold() in SPECIAL_USE_DOMAIN_NAMES:
        return "domínio reservado, que não recebe e-mails"
    return None
