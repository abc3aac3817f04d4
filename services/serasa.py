"""Glue between an agency's settings and the SOA WebServices client (shared by screens and CLI)."""

import json

from flask import current_app
from sqlalchemy import insert

from integrations.serasa import CallRecord, SerasaClient
from models import Agency, SoaCall, db


def base_url_for(environment: str) -> str:
    """Return the configured SOA base URL for an environment (produção, homologação, sandbox)."""
    key = {"producao": "SOA_URL_PRODUCAO", "homologacao": "SOA_URL_HOMOLOGACAO"}.get(environment, "SOA_URL_SANDBOX")
    return current_app.config[key]


class CallLog:
    """Collect SOA call records (already masked by the client) from any thread; ``flush`` stores them.

    Bulk inclusions call SOA from worker threads, which must not touch the database session: they only
    append here, and the request's thread writes the rows before it commits.
    """

    def __init__(self, agency_id: int | None, user_id: int | None):
        self.agency_id, self.user_id = agency_id, user_id
        self.records: list[CallRecord] = []

    def __call__(self, record: CallRecord) -> None:
        self.records.append(record)  # list.append is atomic under the GIL

    def flush(self) -> None:
        """Insert a SoaCall row per collected call, in one statement (the caller commits)."""
        count = len(self.records)
        if not count:
            return
        records = self.records[:count]
        del self.records[:count]  # calls appended meanwhile by worker threads stay for the next flush
        db.session.connection().execute(insert(SoaCall.__table__), [dict(
            agency_id=self.agency_id, user_id=self.user_id, operation=call.operation, url=call.url,
            request_body=json.dumps(call.request_body, ensure_ascii=False, default=str),
            http_status=call.http_status, response_body=call.response_text, latency_ms=int(call.latency_ms),
            result=call.result, attempt=call.attempt) for call in records])


def client_for(agency: Agency, *, calls: CallLog | None = None, email: str | None = None,
               password: str | None = None, environment: str | None = None) -> SerasaClient:
    """Build a client for the agency, with its saved credentials unless others are given.

    Raises CredentialsError when the saved password cannot be decrypted with CREDENTIALS_KEY.
    """
    cfg = current_app.config
    return SerasaClient(
        base_url_for(environment or agency.soa_environment),
        email or agency.soa_email or "",
        password if password is not None else (agency.soa_password(cfg["CREDENTIALS_KEY"]) or ""),
        timeout=(cfg["SOA_CONNECT_TIMEOUT"], cfg["SOA_READ_TIMEOUT"]),
        recorder=calls if calls is not None else CallLog(agency.id, None),
        pool_size=max(10, int(cfg.get("SOA_MAX_CONCURRENCY", 32))),
    )
