"""Glue between an agency's settings and the SOA WebServices client (shared by screens and CLI)."""

import json

from flask import current_app

from integrations.serasa import CallRecord, SerasaClient
from models import Agency, SoaCall, db


def base_url_for(environment: str) -> str:
    """Return the configured SOA base URL for an environment (produção, homologação, sandbox)."""
    key = {"producao": "SOA_URL_PRODUCAO", "homologacao": "SOA_URL_HOMOLOGACAO"}.get(environment, "SOA_URL_SANDBOX")
    return current_app.config[key]


def call_recorder(agency_id: int | None, user_id: int | None):
    """Return a recorder that stores each SOA call (already masked by the client) in the session."""
    def record(call: CallRecord) -> None:
        db.session.add(SoaCall(
            agency_id=agency_id, user_id=user_id, operation=call.operation, url=call.url,
            request_body=json.dumps(call.request_body, ensure_ascii=False, default=str),
            http_status=call.http_status, response_body=call.response_text, latency_ms=int(call.latency_ms),
            result=call.result, attempt=call.attempt,
        ))
    return record


def client_for(agency: Agency, *, user_id: int | None = None, email: str | None = None,
               password: str | None = None, environment: str | None = None) -> SerasaClient:
    """Build a client for the agency, with its saved credentials unless others are given."""
    cfg = current_app.config
    return SerasaClient(
        base_url_for(environment or agency.soa_environment),
        email or agency.soa_email or "",
        password if password is not None else (agency.soa_password(cfg["CREDENTIALS_KEY"]) or ""),
        timeout=(cfg["SOA_CONNECT_TIMEOUT"], cfg["SOA_READ_TIMEOUT"]),
        recorder=call_recorder(agency.id, user_id),
    )
