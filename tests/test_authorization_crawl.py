"""Authorization crawl: every URL rule of the app × {anonymous, consultant A1, consultant A2, supervisor A, admin A,
admin B}.

The URLs come from ``app.url_map``, so a new route is crawled without touching this file (a route with a path
argument the crawl cannot fill fails loudly until a sample is added to PATH_SAMPLES). Object ids come from the
database: for each screen, a row the user may see ("own"), one of a colleague in the same agency that a
consultant may not see ("colleague"), one of the other agency ("foreign") and an id that does not exist
("missing"). The oracle is docs/rules.md (who may do what), not the app's own scoping code:

- anonymous users are sent to /login (except the public endpoints listed in PUBLIC, each with its reason);
- a foreign or colleague object answers exactly like a missing one (so nothing tells that it exists), and
  where the id matters at all that answer is a 404;
- a role without a screen's capability (models.agency.ROLE_CAPABILITIES) gets 403/404 there, a role with it lists
  the screen's rows and opens the ones it may see;
- no response (HTML, CSV export, ajax JSON) ever contains another agency's data, nor a colleague's data for
  a role that does not see every portfolio, and no request answers 500;
- a refused POST changes nothing in the database.

Each POST carries a valid CSRF token of the same session. One big test per phase collects every failure and
reports them all at once; clients are logged in once per role.
"""

import hashlib
import re
import traceback
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from flask_admin.model import BaseModelView
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

import models
from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD
from models import Agency, db
from models.agency import Capability, Role, role_can
from models.documents import format_cep, format_document
from tests.conftest import Auth, csrf_from

ROLES = ("anonymous", "cons_a1", "cons_a2", "sup_a", "admin_b", "admin_a")
#: The role of each crawling user: what they may do comes from the role's capabilities only.
ROLE_OF = {"cons_a1": Role.CONSULTANT, "cons_a2": Role.CONSULTANT, "sup_a": Role.SUPERVISOR,
           "admin_b": Role.ADMIN, "admin_a": Role.ADMIN}


def can(role: str, capability: Capability | None) -> bool:
    return role != "anonymous" and (capability is None or role_can(ROLE_OF[role], capability))


#: Endpoints anonymous users may reach, and why.
PUBLIC = {
    "auth.login": "the login page itself",
    "auth.root": "only redirects to /admin/, which sends anonymous users to /login",
    "static": "the app's own public files (CSS, icons): no data",
    "favicon": "the browser's tab icon",
    "admin.static": "Flask-Admin's CSS, JS and fonts, needed by the login page; no data",
    "ops.healthz": "load-balancer probe; answers {\"status\": ...} and the queue's counts (no agency data)",
    "calendar_feed.ics": "a user's private calendar feed: the unguessable token is the credential (a wrong one is 404)",
}
#: Samples for path arguments: a route with an argument missing here fails the crawl.
PATH_SAMPLES = {
    "export_type": ["csv"],
    "token": ["x" * 43, "../../admin"],
    "filename": ["bootstrap/bootstrap4/css/bootstrap.min.css", "../../../../app.py", "nada-aqui.css"],
}
#: Flask-Admin endpoints that never read an object id (everything else gets the id variants).
ID_FREE = {"index_view", "create_view", "export", "ajax_lookup", "index"}
#: Screens (or single endpoints) that need a capability to open at all (docs/rules.md: Perfil, users, audit log,
#: an export job's file).
SCREEN_CAPABILITY = {"profile": Capability.MANAGE_AGENCY, "user": Capability.MANAGE_AGENCY,
                     "portfolio_import": Capability.MANAGE_AGENCY,
                     "audit": Capability.SEE_AUDIT, "soa_call": Capability.SEE_AUDIT,
                     "jobs.download_view": Capability.EXPORT_PERSONAL_DATA}
#: What a POST needs to change something, by endpoint or else by screen (None: any logged-in user, within
#: their scope). A POST of a role without it, like any anonymous POST, must leave the database as it was.
#: A screen that takes POSTs and is not listed here fails the crawl until it is classified.
WRITE_CAPABILITY = {
    "auth": None, "meeting": None, "negotiation": None, "finance_negotiation": None, "meeting_calendar": None,
    "jobs": None,
    "creditor": Capability.MANAGE_RECORDS, "debtor": Capability.MANAGE_RECORDS, "debt": Capability.MANAGE_RECORDS,
    "debt.negativate_view": Capability.NEGATIVATE, "negativation": Capability.NEGATIVATE,
    "profile": Capability.MANAGE_AGENCY, "user": Capability.MANAGE_AGENCY, "portfolio_import": Capability.MANAGE_AGENCY,
    "audit": Capability.SEE_AUDIT, "soa_call": Capability.SEE_AUDIT,
}


def may_write(role: str, endpoint: str) -> bool:
    if endpoint.endswith(".export"):  # the confirmation that starts a big list's export job
        return can(role, Capability.EXPORT_PERSONAL_DATA)
    key = endpoint if endpoint in WRITE_CAPABILITY else endpoint.partition(".")[0]
    return can(role, WRITE_CAPABILITY[key])
#: Extra query strings that reach deeper into some endpoints.
EXTRA_QUERY = {
    "meeting.send_view": [{"kind": "invite"}, {"kind": "reminder"}],
    "profile.index": [{"tab": "geral"}, {"tab": "reunioes"}, {"tab": "serasa"}],
    "debt.negativate_report_export": [{"format": "csv"}, {"format": "xlsx"}],
}
MISSING_ID = 987654321
#: Tables whose rows may legitimately change on a refused request (the audit trail of the attempt).
VOLATILE_TABLES = {"audit_log", "soa_call"}
#: Defects in code this crawl may not fix, reported to their owners: (role, endpoint, check) -> report.
#: The crawl fails if a listed defect stops happening, so the entry gets removed with the fix.
KNOWN_DEFECTS: dict[tuple[str, str, str], str] = {}


@dataclass
class Probe:
    role: str
    method: str
    endpoint: str
    path: str
    query: dict = field(default_factory=dict)
    form: dict = field(default_factory=dict)
    kind: str = "plain"  # plain | own | colleague | foreign | missing
    variant: str = ""  # what else distinguishes it (extra query, action name)

    @property
    def url(self) -> str:
        return self.path + ("?" + urlencode(self.query, doseq=True) if self.query else "")

    def __str__(self) -> str:
        form = {k: v for k, v in self.form.items() if k != "csrf_token"}
        return f"{self.role} {self.method} {self.url}" + (f" form={form}" if form else "")


@dataclass
class Result:
    probe: Probe
    status: int
    body: str
    location: str
    error: str | None = None


class Failures(list):
    def add(self, key: tuple[str, str, str], message: str) -> None:
        self.append((key, message))


# --------------------------------------------------------------------------------------------- the world


ANY = object()


def _owner(row):
    """docs/rules.md: the consultant a row belongs to; ANY for agency-wide rows; None when unknown."""
    kind = type(row).__name__
    if kind == "Meeting":
        return row.owner_id
    if kind in ("Debtor", "Negotiation"):
        return row.consultant_id
    if kind in ("Debt", "Negativation"):
        return row.debtor.consultant_id
    if kind == "Creditor":
        return ANY
    return None


def _enable_everything(app, world):
    """Both agencies with meetings and Serasa on (so every screen answers) and a record of each kind."""
    with app.app_context():
        for agency_id in (world.a.id, world.b.id):
            agency = db.session.get(Agency, agency_id)
            agency.meetings_enabled = agency.serasa_enabled = True
            agency.soa_email = DEFAULT_EMAIL
            agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        negativation = getattr(models, "Negativation", None)
        if negativation is not None and hasattr(negativation, "for_debt"):
            for debt_id in (world.debt_a1.id, world.debt_a2.id, world.debt_b.id):
                db.session.add(negativation.for_debt(db.session.get(models.Debt, debt_id), None, None))
        db.session.commit()


def _views(app) -> dict:
    return {view.endpoint: view for view in app.extensions["admin"][0]._views}


SEES_ALL = {str(r) for r in Role if role_can(r, Capability.SEE_ALL_PORTFOLIOS)}


def _rows_by_category(app, world) -> dict:
    """For each model screen and role: ids of an own, a colleague's and a foreign row (when they exist)."""
    users = {role: getattr(world, role) for role in ROLES if role != "anonymous"}
    found: dict = {}
    with app.app_context():
        for endpoint, view in _views(app).items():
            if not isinstance(view, BaseModelView) or not hasattr(view.model, "agency_id"):
                continue
            rows = db.session.scalars(select(view.model).order_by(view.model.id)).all()
            for role, user in users.items():
                picks = {}
                for row in rows:
                    owner = _owner(row)
                    if row.agency_id != user.agency_id:
                        picks.setdefault("foreign", row.id)
                    elif user.role in SEES_ALL or owner is ANY or owner == user.id:
                        picks.setdefault("own", row.id)
                    elif owner is not None:
                        picks.setdefault("colleague", row.id)
                picks["missing"] = MISSING_ID
                found[(endpoint, role)] = picks
    return found


#: A role's stored value is every agency's form option, not data (agency B may have no supervisor).
ROLE_VALUES = {str(r) for r in Role}


def _text_values(row) -> set[str]:
    values = set()
    for attr in sa_inspect(type(row)).column_attrs:
        value = getattr(row, attr.key)
        if isinstance(value, str) and len(value.strip()) >= 5 and value not in ROLE_VALUES:
            values.add(value.strip())
            if value.isdigit() and len(value) in (11, 14):
                values.add(format_document(value))
            if value.isdigit() and len(value) == 8:
                values.add(format_cep(value))
    return values


def _forbidden_texts(app, world) -> dict[str, set[str]]:
    """Distinctive strings each role must never receive: the other agency's, and a colleague's for consultants."""
    by_agency: dict[int, set[str]] = {world.a.id: set(), world.b.id: set()}
    by_consultant: dict[int, set[str]] = {}
    with app.app_context():
        for mapper in db.Model.registry.mappers:
            model = mapper.class_
            for row in db.session.scalars(select(model)):
                agency_id = row.id if model is Agency else getattr(row, "agency_id", None)
                if agency_id not in by_agency:
                    continue
                texts = _text_values(row)
                by_agency[agency_id] |= texts
                owner = _owner(row)
                if owner is not None and owner is not ANY:
                    by_consultant.setdefault(owner, set()).update(texts)
    only_a = {t for t in by_agency[world.a.id] - by_agency[world.b.id]
              if not any(t in other for other in by_agency[world.b.id])}
    only_b = {t for t in by_agency[world.b.id] - by_agency[world.a.id]
              if not any(t in other for other in by_agency[world.a.id])}
    forbidden = {"anonymous": only_a | only_b}
    for me in ROLES[1:]:
        user = getattr(world, me)
        other_agency = only_b if user.agency_id == world.a.id else only_a
        if can(me, Capability.SEE_ALL_PORTFOLIOS):
            forbidden[me] = other_agency
            continue
        colleague = {"cons_a1": "cons_a2", "cons_a2": "cons_a1"}[me]
        mine = by_consultant.get(user.id, set())
        theirs = by_consultant.get(getattr(world, colleague).id, set())
        # What the consultant may see of the agency (creditors, own rows) is not a colleague's secret.
        visible = by_agency[world.a.id] - theirs | mine
        forbidden[me] = other_agency | {t for t in theirs - visible if not any(t in v for v in visible)}
    return forbidden


# ------------------------------------------------------------------------------------------- the probes


def _fill(rule, failures: Failures) -> list[tuple[str, str]]:
    """Return (path, variant) pairs for a rule, one per sample of each path argument."""
    paths = [(rule.rule, "")]
    for name in sorted(rule.arguments):
        samples = PATH_SAMPLES.get(name)
        if samples is None:
            failures.add(("*", rule.endpoint, "path-arg"),
                         f"{rule.rule}: no sample for <{name}>: add one to PATH_SAMPLES")
            return []
        pattern = re.compile(rf"<(?:[^<>:]+:)?{name}>")
        paths = [(pattern.sub(sample, path), f"{variant}{name}={sample} ") for path, variant in paths
                 for sample in samples]
    return paths


def _probes(app, world, failures: Failures) -> list[Probe]:
    views = _views(app)
    ids = _rows_by_category(app, world)
    probes: list[Probe] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        blueprint, _, method_name = rule.endpoint.rpartition(".")
        view = views.get(blueprint)
        for path, path_variant in _fill(rule, failures):
            for method in sorted(rule.methods & {"GET", "POST"}):
                extras = [(path_variant, {}, {})]
                extras += [(path_variant + urlencode(q), q, {}) for q in EXTRA_QUERY.get(rule.endpoint, [])]
                if isinstance(view, BaseModelView):
                    if method_name == "index_view":
                        extras.append(("search", {"search": "e"}, {}))
                    if method_name == "ajax_lookup":
                        extras = [(f"ajax {n}", {"name": n, "query": ""}, {}) for n in view._form_ajax_refs]
                    if method_name == "action_view":
                        extras = [(f"action {n}", {}, {"action": n}) for n, _ in view._actions] or extras
                for role in ROLES:
                    id_variants = [("plain", None)]
                    if isinstance(view, BaseModelView) and method_name not in ID_FREE:
                        picks = ids.get((blueprint, role), {"missing": MISSING_ID})
                        id_variants = [(kind, picks[kind]) for kind in ("missing", "foreign", "colleague", "own")
                                       if kind in picks]
                        if role == "anonymous":
                            id_variants = id_variants[-1:]
                    for variant, query, form in extras:
                        for kind, object_id in id_variants:
                            q, f = dict(query), dict(form)
                            if object_id is not None:
                                q.update(id=object_id, rowid=object_id)
                                if method == "POST":
                                    f.update(id=object_id, rowid=object_id, list_form_pk=object_id)
                            probes.append(Probe(role, method, rule.endpoint, path, q, f, kind, variant))
    return probes


# ------------------------------------------------------------------------------------------- running


class Crawler:
    def __init__(self, app, world):
        self.app = app
        self.world = world
        self.clients = {}
        self.tokens = {}
        for role in ROLES:
            client = app.test_client()
            if role != "anonymous":
                response = Auth(client).login(getattr(world, role))
                assert response.status_code == 302, (role, response.status_code)
            self.clients[role] = client
            self.tokens[role] = csrf_from(client.get("/login" if role == "anonymous" else "/admin/").text)

    def run(self, probe: Probe) -> Result:
        client = self.clients[probe.role]
        form = dict(probe.form, csrf_token=self.tokens[probe.role]) if probe.method == "POST" else None
        try:
            response = client.open(probe.url, method=probe.method, data=form)
        except Exception:  # TESTING propagates exceptions: each one is a 500 a user would see
            return Result(probe, 500, "", "", traceback.format_exc(limit=-6))
        result = Result(probe, response.status_code, response.get_data(as_text=True),
                        response.headers.get("Location", ""))
        response.close()  # static files are streamed from open files
        return result

    def fingerprint(self) -> dict[str, str]:
        """A digest of every table but the audit trail, to prove a refused request changed nothing."""
        digests = {}
        with self.app.app_context():
            for table in db.metadata.sorted_tables:
                if table.name in VOLATILE_TABLES:
                    continue
                columns = [c for c in table.columns if not (table.name == "user" and c.name == "last_login_at")]
                rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
                digests[table.name] = hashlib.sha1(repr(rows).encode()).hexdigest()
        return digests


def _check_common(result: Result, forbidden: dict[str, set[str]], failures: Failures) -> None:
    probe = result.probe
    if result.status >= 500:
        failures.add((probe.role, probe.endpoint, "500"), f"500 on {probe}\n{result.error or result.body[:500]}")
        return
    if probe.role == "anonymous":
        _check_anonymous(result, failures)
    elif (not can(probe.role, SCREEN_CAPABILITY.get(probe.endpoint,
                                                    SCREEN_CAPABILITY.get(probe.endpoint.partition(".")[0])))
          and result.status not in (403, 404)):
        failures.add((probe.role, probe.endpoint, "capability"),
                     f"{probe.role} got {result.status} on a screen their role may not open: {probe}")
    leaked = sorted(t for t in forbidden[probe.role] if t in result.body or t in result.location)
    if leaked:
        failures.add((probe.role, probe.endpoint, "leak"), f"{probe} answered {result.status} with data the user "
                                                           f"must not see: {leaked[:5]}")


def _check_anonymous(result: Result, failures: Failures) -> None:
    probe = result.probe
    location = urlsplit(result.location).path
    if probe.endpoint == "auth.login":
        ok = result.status in (200, 400, 401)
    elif probe.endpoint == "auth.root":
        ok = result.status == 302 and location == "/admin/"
    elif probe.endpoint in ("static", "admin.static"):
        ok = result.status == 404 or (result.status == 200 and "bootstrap.min.css" in probe.path
                                      and probe.endpoint == "admin.static")
    elif probe.endpoint == "favicon":
        ok = result.status == 200
    elif probe.endpoint == "ops.healthz":
        ok = result.status == 200 and result.body.startswith("{") and '"status":"ok"' in result.body.replace(" ", "")
    elif probe.endpoint == "calendar_feed.ics":
        ok = result.status == 404  # no token of the crawl's is live
    else:
        ok = result.status == 302 and location == "/login"
    if not ok:
        failures.add(("anonymous", probe.endpoint, "anonymous"),
                     f"{probe} answered {result.status} {result.location}")


def _check_ids(results: list[Result], failures: Failures) -> None:
    """A foreign or colleague object answers exactly like a missing one; where the id matters, with 404."""
    groups: dict[tuple, dict[str, Result]] = {}
    for result in results:
        p = result.probe
        if p.kind != "plain":
            groups.setdefault((p.role, p.method, p.endpoint, p.path, p.variant), {})[p.kind] = result
    for (role, _, endpoint, _, _), by_kind in groups.items():
        missing = by_kind.get("missing")
        if missing is None or role == "anonymous":
            continue
        own = by_kind.get("own")
        id_matters = own is not None and own.status != missing.status
        for kind in ("foreign", "colleague"):
            other = by_kind.get(kind)
            if other is None:
                continue
            if other.status != missing.status or (id_matters and other.status != 404):
                failures.add((role, endpoint, kind),
                             f"{other.probe} answered {other.status} but a missing id answers {missing.status}"
                             + (f" and the user's own object {own.status}" if own else ""))


def _report(failures: Failures, probes: list[Probe]) -> None:
    known = {key for key, _ in failures if key in KNOWN_DEFECTS}
    unknown = [message for key, message in failures if key not in KNOWN_DEFECTS]
    assert not unknown, f"{len(unknown)} authorization failure(s):\n\n" + "\n\n".join(unknown[:60])
    crawled = {(p.role, p.endpoint) for p in probes}
    fixed = {key for key in KNOWN_DEFECTS if key[:2] in crawled} - known
    assert not fixed, f"known defects no longer happen, remove them from KNOWN_DEFECTS: {sorted(fixed)}"


def _crawl(app, world):
    _enable_everything(app, world)
    crawler = Crawler(app, world)  # logs in first, so that the audit log has rows to crawl too
    failures = Failures()
    probes = _probes(app, world, failures)
    return crawler, probes, _forbidden_texts(app, world), failures


# --------------------------------------------------------------------------------------------- tests


def test_every_get_follows_the_role_matrix(app, world, soa):
    crawler, probes, forbidden, failures = _crawl(app, world)
    gets = [p for p in probes if p.method == "GET"]
    results = [crawler.run(p) for p in gets]
    for result in results:
        _check_common(result, forbidden, failures)
    _check_ids(results, failures)
    # The crawl must reach the pages, not just collect 404s: every screen lists and shows its rows to each role
    # whose capabilities open it (for a supervisor, "own" rows include every consultant's).
    views = _views(app)
    reached = set()
    for result in results:
        probe = result.probe
        blueprint, _, method_name = probe.endpoint.rpartition(".")
        if probe.role == "anonymous" or not isinstance(views.get(blueprint), BaseModelView):
            continue
        if not can(probe.role, SCREEN_CAPABILITY.get(blueprint)):
            continue
        if (method_name, probe.kind, probe.variant) == ("index_view", "plain", ""):
            assert result.status == 200, f"{probe.role} cannot list {blueprint}"
            reached.add((probe.role, blueprint))
        if method_name == "details_view" and probe.kind == "own" and views[blueprint].can_view_details:
            assert result.status == 200, f"{probe.role} cannot open own {blueprint}"
    assert {role for role, _ in reached} == set(ROLES[1:])
    assert len(gets) > 500, len(gets)
    _report(failures, gets)


def test_every_refused_post_changes_nothing_and_allowed_posts_never_fail(app, world, soa, smtp):
    crawler, probes, forbidden, failures = _crawl(app, world)
    posts = [p for p in probes if p.method == "POST"]
    # First every POST that must change nothing (no session, objects out of scope or missing, a consultant on
    # a read-only screen), one by one against a fingerprint of the database; then the ones that may act
    # (own objects, no id): deletes and bulk actions after the rest, then what ends the role's own sessions
    # (logout, "Sair de todos os dispositivos").
    for blueprint in {p.endpoint.partition(".")[0] for p in posts} - {k.partition(".")[0] for k in WRITE_CAPABILITY}:
        failures.add(("*", blueprint, "unclassified"), f"POSTs to {blueprint}: add it to WRITE_CAPABILITY")
    posts = [p for p in posts if p.endpoint.partition(".")[0] in {k.partition(".")[0] for k in WRITE_CAPABILITY}]
    refused = [p for p in posts if p.role == "anonymous" or p.kind in ("missing", "foreign", "colleague")
               or not may_write(p.role, p.endpoint)]
    acting = [p for p in posts if p not in refused]
    acting.sort(key=lambda p: (p.endpoint in ("auth.logout", "user.end_sessions_view"),
                               p.endpoint.endswith(("delete_view", "action_view")),
                               ROLES.index(p.role)))
    results = []
    before = crawler.fingerprint()
    for probe in refused:
        result = crawler.run(probe)
        results.append(result)
        after = crawler.fingerprint()
        if after != before:
            changed = sorted(t for t in after if after[t] != before[t])
            failures.add((probe.role, probe.endpoint, "changed"), f"{probe} answered {result.status} and changed "
                                                                  f"tables {changed}")
            before = after
    for probe in acting:
        results.append(crawler.run(probe))
    for result in results:
        _check_common(result, forbidden, failures)
    _check_ids(results, failures)
    assert len(posts) > 300, len(posts)
    _report(failures, posts)


def test_scoped_lookup_can_follow_a_relationship_to_the_consultant(app, world):
    """Debts belong to a consultant through their debtor (Debt.consultant_path): the lookup follows it."""
    from flask_login import login_user

    from admin_views.base import ScopedAjaxLoader
    from models import Debt, User

    loader = ScopedAjaxLoader("debts", Debt, fields=["contract_number"])
    for role, expected in (("cons_a1", ["CT-A1"]), ("sup_a", ["CT-A1", "CT-A2"]), ("admin_a", ["CT-A1", "CT-A2"])):
        with app.test_request_context():
            login_user(db.session.get(User, getattr(world, role).id))
            assert sorted(d.contract_number for d in loader.get_list("CT")) == expected, role
