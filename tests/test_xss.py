"""Stored XSS: no user value ever becomes JavaScript.

Every free-text column of every row holds a value written to break out of HTML attributes and JavaScript
strings. The admin and a consultant then crawl every page the panel links to (lists, details, edit and create
forms, the dashboard, the send screens, the clock, Perfil…) and each page must have:

- no ``on*`` event-handler attribute at all (user data in a handler runs even when HTML-escaped: the browser
  decodes ``&#39;`` back to ``'`` before running it);
- no executable inline ``<script>`` (only ``src=`` scripts and non-executable ``application/json`` blocks);
- no ``javascript:`` URL other than Flask-Admin's constant ``javascript:void(0)``;
- the hostile value only as escaped text;

and the Content-Security-Policy allows scripts from the panel's own origin only.
"""

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import String, Text, select

import models
from models import AuditLog, Debt, Meeting, MeetingEmail, MeetingEmailRecipient, Negativation, SoaCall, db
from models.meeting import EmailKind, SendStatus
from models.negativation import NegativationEvent
from tests.conftest import Auth

#: Breaks out of a JS string in a handler, and out of an attribute, and opens a tag with a handler.
HOSTILE = "x');alert(1)//\"><svg onload=alert(1)>"
#: Columns holding codes, states, keys or hashes the app reads as such (not free text).
NOT_FREE_TEXT = {"status", "kind", "role", "timezone", "soa_environment", "password_hash", "soa_password_encrypted",
                 "document", "cnpj", "uf", "cep", "email", "contact_email", "soa_email", "uid", "idempotency_key",
                 "unique_id", "from_status", "to_status", "exclusion_motive", "video_link", "participants",
                 "result", "address", "session_token"}
#: Links not worth following: side effects, downloads, and the same list sorted/paged/resized again.
SKIP_PARAMS = {"sort", "desc", "page_size", "page"}
MAX_PAGES = 400


class PageScan(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.handlers: list[str] = []
        self.inline_scripts: list[str] = []
        self.js_urls: list[str] = []
        self.links: list[str] = []
        self._script = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().startswith("javascript:") and value.strip() != "javascript:void(0)":
                self.js_urls.append(f"<{tag} {name}={value!r}>")
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "script":
            kind = (attributes.get("type") or "text/javascript").lower()
            executable = kind in ("text/javascript", "application/javascript", "module", "")
            self._script = [] if executable and not attributes.get("src") else None

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.inline_scripts.append("".join(self._script))
            self._script = None


def _hostile_world(app, world):
    """Fill every free-text column of every row with HOSTILE (cut to the column's length)."""
    with app.app_context():
        agency = db.session.get(models.Agency, world.a.id)
        agency.serasa_enabled = agency.meetings_enabled = True
        debt = db.session.get(Debt, world.debt_a1.id)
        record = Negativation.for_debt(debt, world.admin_a.id, "RC1")
        db.session.add(record)
        db.session.flush()
        db.session.add(NegativationEvent(negativation_id=record.id, to_status="pendente", message=HOSTILE))
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        email = MeetingEmail(meeting=meeting, kind=EmailKind.REMINDER, status=SendStatus.PARTIAL, sequence=0,
                             sent_by_id=world.cons_a1.id, error=HOSTILE)
        db.session.add(email)
        db.session.add(MeetingEmailRecipient(email=email, address="convidado@credor.com.br", delivered=False,
                                             error=HOSTILE))
        db.session.add(AuditLog(agency_id=world.a.id, user_id=world.cons_a1.id, action="meeting.update",
                                target=HOSTILE, details=HOSTILE, ip="127.0.0.1"))
        db.session.add(SoaCall(agency_id=world.a.id, user_id=world.admin_a.id, operation="saldo", url=HOSTILE,
                               request_body=HOSTILE, response_body=HOSTILE, result="ok"))
        db.session.flush()
        for mapper in db.Model.registry.mappers:
            for row in db.session.scalars(select(mapper.class_)):
                for column in mapper.columns:
                    if isinstance(column.type, String | Text) and column.key not in NOT_FREE_TEXT \
                            and not column.foreign_keys and not column.primary_key:
                        length = getattr(column.type, "length", None)
                        setattr(row, column.key, HOSTILE[:length] if length else HOSTILE)
        db.session.commit()


def _crawl(client, start: list[str]) -> dict[str, str]:
    pages: dict[str, str] = {}
    queue = list(start)
    seen = set(queue)
    while queue and len(pages) < MAX_PAGES:
        url = queue.pop(0)
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        pages[url] = html
        scan = PageScan()
        scan.feed(html)
        for href in scan.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
                continue
            if "/export/" in parts.path or parts.path.endswith("/ajax/lookup/"):
                continue
            query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("url",)]
            if any(k in SKIP_PARAMS for k, _ in query):
                continue
            target = parts.path + ("?" + urlencode(query) if query else "")
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return pages


def _start_urls(app) -> list[str]:
    urls = ["/admin/", "/admin/meeting/today/", "/admin/profile/?tab=geral", "/admin/profile/?tab=reunioes",
            "/admin/profile/?tab=serasa"]
    for view in app.extensions["admin"][0]._views:
        urls.append(view.url + "/")
        if hasattr(view, "create_view"):
            urls.append(view.url + "/new/")
    return urls


def test_no_user_value_becomes_javascript_on_any_page(app, client, world):
    _hostile_world(app, world)
    problems = []
    crawled = 0
    for user in (world.admin_a, world.cons_a1):
        auth = Auth(client)
        assert auth.login(user).status_code == 302
        with app.app_context():
            meeting_id, debt_id = world.meeting_a1.id, world.debt_a1.id
            record_id = db.session.scalar(select(Negativation.id))
        extra = [f"/admin/meeting/send/?id={meeting_id}&kind=reminder", f"/admin/meeting/send/?id={meeting_id}"
                 "&kind=invite", f"/admin/debt/negativate/?rowid={debt_id}",
                 f"/admin/negativation/exclude/?id={record_id}", f"/admin/meeting/details/?id={meeting_id}",
                 f"/admin/meeting/edit/?id={meeting_id}"]
        pages = _crawl(client, _start_urls(app) + extra)
        crawled += len(pages)
        for url, html in pages.items():
            scan = PageScan()
            scan.feed(html)
            problems += [f"{user.name}: {url}: event handler {h}" for h in scan.handlers]
            problems += [f"{user.name}: {url}: inline script {s[:80]!r}" for s in scan.inline_scripts if s.strip()]
            problems += [f"{user.name}: {url}: javascript URL {u}" for u in scan.js_urls]
            if "<svg onload" in html:
                problems.append(f"{user.name}: {url}: the hostile value reached the page unescaped")
        auth.logout()
    # The crawl really reached the pages that show the hostile values.
    assert crawled > 60, crawled
    assert not problems, "\n".join(sorted(set(problems))[:40])


def test_hostile_meeting_subject_is_only_text_in_the_delete_confirmation(app, client, world, login_as):
    _hostile_world(app, world)
    login_as(world.admin_a)
    html = client.get("/admin/meeting/").get_data(as_text=True)
    scan = PageScan()
    scan.feed(html)
    assert not scan.handlers
    # The confirmation text travels as an escaped data attribute, read by static JS as text.
    assert 'data-confirm="Confirma a exclusão da reunião “x&#39;);alert(1)//&#34;&gt;&lt;svg onload=alert(1)&gt;”?"' \
        in html


def test_csp_allows_only_own_scripts(client, world, login_as):
    login_as(world.admin_a)
    for url in ("/login", "/admin/", "/admin/meeting/"):
        policy = client.get(url).headers["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
        assert directives["script-src"] == ["'self'"], policy
        assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
        assert directives["object-src"] == ["'none'"]


def test_panel_script_is_served_from_the_own_origin(client, world, login_as):
    login_as(world.admin_a)
    html = client.get("/admin/meeting/").get_data(as_text=True)
    assert '<script src="/static/panel.js"></script>' in html
    assert client.get("/static/panel.js").status_code == 200
