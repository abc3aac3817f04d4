"""The lists' search: every typed word in some searched column, the same rows whether SQLite reads them from the
full-text trigram index (models/search_index.py) or with the LIKE over the whole scope, on data written through
the app; the index follows every insert, update and delete; no typed text breaks it.

Semantics (both databases): a word is contained in a column, case-insensitively as the database folds case
(SQLite: ASCII letters only, PostgreSQL: all letters), accents as typed; ``%``, ``_``, quotes and full-text
operators are plain characters; a document column (CPF/CNPJ) compares the digits of a word typed as (part of) a
document, and a whole CPF/CNPJ (punctuated, or 11/14 digits with valid check digits) is that document;
``^word`` starts with, ``=word`` is exactly.
"""

import re
import string
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask_login import login_user
from sqlalchemy import event, select

from admin_views.base import MAX_SEARCH_TERMS
from models import Agency, Creditor, Debt, Debtor, Meeting, Negativation, Negotiation, User, db
from models.documents import is_valid_document, only_digits
from models.search_index import PROBE_ROWS, suffix_lookup
from tests import factories as f
from tests.conftest import ON_POSTGRES

CPF_JOAO = "79666809834"
CNPJ_LOJA = "11222333000181"

DEBTORS = [("João da Silva", CPF_JOAO), ("JOÃO SANTOS", "52998224725"), ("Joana Souza", "11144477735"),
           ('Pedro "Pé" Alves', "39053344705"), ("Ana_Clara Ribeiro", "15350946056"),
           ("Ana Clara Ribeiro", "99796463814"), ("Estrela*Cadente Lima", "86288366757"),
           ("Loja 100% Móveis Ltda", CNPJ_LOJA), ("Orestes NEAR(Costa) Oliveira", "47433549358"),
           ("Maria Conceição d'Ávila", "07068093868")]
CONTRACTS = ["CT-2024/001", "CT-2024/002", "ab%cd-1", "abXcd-2", "ab_cd-3", 'Q"7*OR-9', "NEAR(55)", "2024-CT/9",
             "ab\\cd-4"]
SUBJECTS = ["Renegociação João", "Acordo 50% à vista", "Pauta_semanal", 'Reunião "urgente"', "Revisão NEAR(prazo)",
            "Prestação de contas OR metas", "Alinhamento Joana"]

#: What people type in a list's search box.
SEARCHES = [
    "João", "joão", "JOÃO", "joao", "Silva", "da Silva", "silva joão", "jo", "ão", "Jo ão", "Joa", "oão da",
    "796.668.098-34", "79666809834", "668.098", "098-34", "796", "11.222.333/0001-81", "11222333", "0001-81",
    "CT-2024/001", "2024/0", "CT-2024", "ct-2024", "2024", "ab%cd", "ab_cd", "abXcd", "%", "_", "50%", "100%",
    '"', '"Pé"', 'Pé"', '""', "*", "Estrela*", "*Cadente", "OR", "or", "Costa OR", "OR-9", 'Q"7*OR', "NEAR(",
    "NEAR(Costa", "NEAR(55)", "AND", "NOT", "Ana_Clara", "Ana Clara", "Clara_", "^João", "^joão", "=João",
    "^CT-2024", "=CT-2024/001", "=ab%cd-1", "Riberio", "zzzqqq", "\\", "ab\\cd", "Renegociação", "renegociacao",
    "semanal", "Pauta_", "{name}:João", "name:João", "subject:Pauta", "-João", "+João", "Ávila", "d'Ávila", "'",
    "Conceição", "CONCEIÇÃO", "à vista", "Móveis", "1-2", "1.1", "0001", "Joana 11144477735", "a b c d e f",
]

#: list endpoint → (model, searched columns as (path to the value, is a document)).
LISTS = {
    "meeting": (Meeting, [(("subject",), False)]),
    "debt": (Debt, [(("contract_number",), False)]),
    "debtor": (Debtor, [(("name",), False), (("document",), True)]),
    "negotiation": (Negotiation, [(("debtor", "name"), False), (("debtor", "document"), True)]),
    "negativation": (Negativation, [(("document",), True), (("contract_number",), False)]),
}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_DOCUMENT_WORD = re.compile(r"[0-9][0-9.\-/]*")


def _fold(text: str) -> str:
    return text.lower() if ON_POSTGRES else text.translate(_ASCII_LOWER)


def _word_in(word: str, value: str | None, document: bool) -> bool:
    """The expected semantics, written out (not the code's helpers)."""
    if document:
        if word.isdigit() and is_valid_document(word):  # a whole CPF/CNPJ pasted without punctuation: that one
            return value == word
        return bool(_DOCUMENT_WORD.fullmatch(word)) and only_digits(word) in (value or "")
    kind, text = (word[0], word[1:]) if word[0] in "^=" else ("", word)
    value, text = _fold(value or ""), _fold(text)
    return value.startswith(text) if kind == "^" else value == text if kind == "=" else text in value


def _value(row, path):
    for key in path:
        row = getattr(row, key)
    return row


def _expected(endpoint: str, agency_id: int, search: str) -> set[int]:
    model, columns = LISTS[endpoint]
    words = [w for w in search.split(" ") if w][:MAX_SEARCH_TERMS]
    rows = db.session.scalars(select(model).where(model.agency_id == agency_id)).all()
    return {row.id for row in rows
            if all(any(_word_in(w, _value(row, path), doc) for path, doc in columns) for w in words)}


@pytest.fixture
def searchable(app, world):
    """Agency A's rows with the names, documents, contracts and subjects people search for, written through the
    models (agency B has a João da Silva too, never found from A)."""
    with app.app_context():
        a = db.session.get(Agency, world.a.id)
        a.serasa_enabled = True
        cons = db.session.get(User, world.cons_a1.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        debtors = [f.make_debtor(a, cons, name=name, document=doc) for name, doc in DEBTORS]
        for i, contract in enumerate(CONTRACTS):
            debtor = debtors[i % len(debtors)]
            debt = f.make_debt(debtor, creditor, contract_number=contract)
            f.make_negotiation(debtor, creditor, debts=[debt])
            db.session.add(Negativation(agency_id=a.id, debt_id=debt.id, debtor_id=debtor.id,
                                        creditor_id=creditor.id, document=debtor.document,
                                        contract_number=contract, amount=Decimal("100.00"),
                                        due_date=date(2025, 1, 10), expires_on=date(2025, 1, 10) + timedelta(1826)))
        for subject in SUBJECTS:
            f.make_meeting(cons, creditor, subject=subject)
        b = db.session.get(Agency, world.b.id)
        other = f.make_debtor(b, None, name="João da Silva", document="41593888686")
        f.make_debt(other, db.session.get(Creditor, world.creditor_b.id), contract_number="CT-2024/001")
        f.make_meeting(db.session.get(User, world.cons_b.id), db.session.get(Creditor, world.creditor_b.id),
                       subject="Renegociação João")
        db.session.commit()
    return world


def _view(app, endpoint):
    return next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == endpoint)


def _found(view, search) -> tuple[set[int], int, str]:
    """The ids and count of the list searched, and its SQL (with ``MATCH`` first when the index was read)."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        query, count_query = view._list_queries(None, False, search, None)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    statement = str(query.statement.compile(dialect=db.engine.dialect))
    if any("_search MATCH" in sql for sql in seen) and "json_each" in statement:  # the ids found are the candidates
        statement = "_search MATCH " + statement
    if any("_suffix" in sql for sql in seen) and ("json_each" in statement or "ANY" in statement):
        statement = "_suffix " + statement  # the ids the suffix index found are the candidates
    ids = {row[0] for row in query.with_entities(view.model.id)}
    return ids, count_query.scalar(), statement


def _each_search(app, world):
    """(endpoint, view, search, expected ids) for every list and typed search, as agency A's admin, in a request."""
    admin = db.session.get(User, world.admin_a.id)
    for endpoint in LISTS:
        view = _view(app, endpoint)
        with app.test_request_context(f"/admin/{endpoint}/"):
            login_user(admin)
            for search in SEARCHES:
                yield endpoint, view, search, _expected(endpoint, world.a.id, search)


def test_every_list_search_finds_the_same_rows_from_the_index_as_without_it(app, searchable, monkeypatch):
    """For each list and each typed search: the rows found (and the count) are exactly the expected ones, whether
    SQLite reads the words from the trigram index (the default), only some of them (a word in more rows than
    ``search_index_limit`` keeps the LIKE), or none (the LIKE over the scope, as before the index)."""
    failures, served, by_suffix = [], 0, 0
    with app.app_context():
        for endpoint, view, search, expected in _each_search(app, searchable):
            for limit in (view.search_index_limit, 1, 0):
                monkeypatch.setattr(view, "search_index_limit", limit)
                ids, count, statement = _found(view, search)
                if ids != expected or count != len(expected):
                    failures.append(f"{endpoint} {search!r} limit={limit}: {sorted(ids)} (total {count}), "
                                    f"expected {sorted(expected)}")
                if limit and not ON_POSTGRES and "_search MATCH" in statement:
                    served += 1
                if limit and "_suffix" in statement:
                    by_suffix += 1
            monkeypatch.undo()
    assert not failures, "\n".join(failures)
    if not ON_POSTGRES:
        assert served > 100  # the index did serve the searches (more than 3 letters, in few rows)
    assert by_suffix > 40  # and the contract numbers' suffix index, on both databases


def test_a_word_of_three_characters_or_more_is_read_from_the_index_shorter_ones_by_like(app, searchable):
    """SQLite: the trigram index serves words of 3 characters or more; PostgreSQL: ILIKE (its pg_trgm indexes).
    A contract number is read from its suffix index on both (the lists of debts and negativations)."""
    with app.app_context():
        admin = db.session.get(User, searchable.admin_a.id)
        for endpoint in LISTS:
            view = _view(app, endpoint)
            suffixed = endpoint in ("debt", "negativation")
            with app.test_request_context(f"/admin/{endpoint}/"):
                login_user(admin)
                statement = _found(view, "Joa")[2]
                assert ("_suffix" in statement) is suffixed, endpoint
                assert "_suffix" not in _found(view, "Jo")[2], endpoint
                if ON_POSTGRES:
                    assert "ILIKE" in statement and "MATCH" not in statement, endpoint
                    continue
                assert ("_search MATCH" in statement) is not suffixed, endpoint
                assert "MATCH" not in _found(view, "Jo")[2], endpoint
                documents = any(doc for _, doc in LISTS[endpoint][1])
                # "1-2" is 3 characters, but its digits "12" (what a CPF/CNPJ column compares) are 2: LIKE alone
                statement = _found(view, "1-2")[2]
                assert ("MATCH" in statement) is not (documents or suffixed), endpoint
                # (the negativations' document LIKE '%12%' reads the scope: no index serves that word)
                assert ("_suffix" in statement) is (suffixed and not documents), endpoint


def test_a_whole_punctuated_cpf_or_cnpj_is_found_by_equality_on_the_document(app, searchable):
    """``796.668.098-34`` or ``11.222.333/0001-81`` pasted in a list's search is that document: found by equality
    (the unique/document index, on both databases), neither by a contains-search over every document (which grows
    with the table) nor in the names; the rows are the same as the contains-search's."""
    with app.app_context():
        admin = db.session.get(User, searchable.admin_a.id)
        for endpoint in ("debtor", "negotiation", "negativation"):
            view = _view(app, endpoint)
            with app.test_request_context(f"/admin/{endpoint}/"):
                login_user(admin)
                for typed in ("796.668.098-34", "11.222.333/0001-81"):
                    ids, count, statement = _found(view, typed)
                    assert ids == _expected(endpoint, searchable.a.id, typed) and count == len(ids) > 0, endpoint
                    assert "MATCH" not in statement and "LIKE" not in statement.upper(), (endpoint, statement)
                    assert re.search(r"document = [?%(]", statement), (endpoint, statement)
                # A part of a document keeps the contains-search.
                assert "document = " not in _found(view, "668.098")[2] and "document = " not in _found(view, "7966680983")[2]


def test_a_whole_cpf_or_cnpj_without_punctuation_is_that_document_and_still_text_elsewhere(app, searchable):
    """``79666809834`` pasted from a spreadsheet (11 or 14 digits with valid check digits) is that document in the
    document columns (equality: their index, not a contains-search that reads the lists of digit trigrams shared by
    every document), and still a text in the other searched columns (a numeric contract number, a name): the rows
    are the ones the rule gives; a CNPJ holding those 11 digits is not that CPF."""
    with app.app_context():
        admin = db.session.get(User, searchable.admin_a.id)
        a = db.session.get(Agency, searchable.a.id)
        holder = f.make_debtor(a, None, name="Holding 79666809834 Ltda", document="07966680983404")
        debtor = db.session.get(Debtor, holder.id)
        f.make_debt(debtor, db.session.get(Creditor, searchable.creditor_a.id), contract_number="79666809834")
        db.session.commit()
        for endpoint in ("debtor", "negotiation", "negativation"):
            view = _view(app, endpoint)
            with app.test_request_context(f"/admin/{endpoint}/"):
                login_user(admin)
                for typed in (CPF_JOAO, CNPJ_LOJA):
                    ids, count, statement = _found(view, typed)
                    assert ids == _expected(endpoint, searchable.a.id, typed) and count == len(ids) > 0, endpoint
                    assert re.search(r"document = [?%(]", statement), (endpoint, statement)
        with app.test_request_context("/admin/debtor/"):
            login_user(admin)
            with _Recorded(app) as seen:
                ids, _, _ = _found(_view(app, "debtor"), CPF_JOAO)
            names = {db.session.get(Debtor, i).name for i in ids}
            assert names == {"João da Silva", "Holding 79666809834 Ltda"}  # the CPF's owner, and the name as text
        if not ON_POSTGRES:
            # SQLite: the names' full-text index shares its digit trigrams with every document (their lists grow with
            # the table): the name is looked for among the names that hold a digit, by their partial index
            assert not [sql for sql, _ in seen.statements if "MATCH" in sql], seen.statements
            assert [sql for sql, _ in seen.statements if "INDEXED BY ix_debtor_digit_names" in sql], seen.statements


def _page_names(client, endpoint, search) -> str:
    response = client.get(f"/admin/{endpoint}/", query_string={"search": search})
    assert response.status_code == 200, (endpoint, search, response.status_code)
    return response.get_data(as_text=True)


def _integrity_check():
    for table in ("meeting", "debt", "debtor", "negativation"):
        db.session.execute(db.text(f"INSERT INTO {table}_search({table}_search, rank) VALUES ('integrity-check', 1)"))


def test_rows_written_through_the_app_are_found_and_no_longer_found(app, client, searchable, login_as):
    """A debtor added, renamed, given another document and deleted; debts copied by ``INSERT … SELECT`` (as the
    benchmark and bulk loads do) and deleted by SQL: the list's search follows each write (SQLite: the triggers
    keep the index; it stays consistent with its table)."""
    login_as(searchable.admin_a)
    with app.app_context():
        a = db.session.get(Agency, searchable.a.id)
        debtor = f.make_debtor(a, db.session.get(User, searchable.cons_a1.id), name="Zuleica Tavares",
                               document="04735209905")
        db.session.commit()
        debtor_id = debtor.id
    assert "Zuleica Tavares" in _page_names(client, "debtor", "zuleica")
    assert "Zuleica Tavares" in _page_names(client, "debtor", "047.352.099-05")

    with app.app_context():
        debtor = db.session.get(Debtor, debtor_id)
        debtor.name = "Zuleica Moraes"
        debtor.document = "05802354160"
        f.make_negotiation(debtor, db.session.get(Creditor, searchable.creditor_a.id))
        db.session.commit()
    assert "Zuleica Moraes" in _page_names(client, "debtor", "Moraes")
    assert "Zuleica" not in _page_names(client, "debtor", "Tavares")
    assert "Zuleica" not in _page_names(client, "debtor", "047.352.099-05")
    assert "Zuleica Moraes" in _page_names(client, "debtor", "058.023.541-60")
    assert "Zuleica Moraes" in _page_names(client, "negotiation", "zuleica moraes")

    with app.app_context():
        db.session.execute(db.delete(Negotiation).where(Negotiation.debtor_id == debtor_id))
        db.session.delete(db.session.get(Debtor, debtor_id))
        db.session.commit()
    assert "Zuleica" not in _page_names(client, "debtor", "Moraes")
    assert "Zuleica" not in _page_names(client, "debtor", "058.023.541-60")

    with app.app_context():
        db.session.execute(db.text(
            "INSERT INTO debt (agency_id, debtor_id, creditor_id, consultant_id, contract_number, amount, due_date, "
            "status, created_at) SELECT agency_id, debtor_id, creditor_id, consultant_id, "
            "'COPIA-' || contract_number, amount, due_date, status, created_at FROM debt WHERE contract_number "
            "LIKE 'CT-2024/%' AND agency_id = :a"), {"a": searchable.a.id})
        db.session.commit()
    page = _page_names(client, "debt", "copia-ct-2024")
    assert "COPIA-CT-2024/001" in page and "COPIA-CT-2024/002" in page
    with app.app_context():
        db.session.execute(db.text("UPDATE debt SET contract_number = 'RENOMEADO-1' "
                                   "WHERE contract_number = 'COPIA-CT-2024/001'"))
        db.session.execute(db.text("DELETE FROM debt WHERE contract_number = 'COPIA-CT-2024/002'"))
        db.session.commit()
    page = _page_names(client, "debt", "copia-ct-2024")
    assert "COPIA-CT-2024" not in page
    assert "RENOMEADO-1" in _page_names(client, "debt", "renomeado")
    if not ON_POSTGRES:
        with app.app_context():
            _integrity_check()  # an index out of step with its table fails here ("database disk image is malformed")


#: Text that is syntax to FTS5 (quotes, operators, column filters, prefixes), to LIKE, or just odd.
ODD_SEARCHES = ['"', '""', '"""', '" OR "', "*", "**", "abc*", "^", "=", "^*", "NEAR(", "NEAR(a b", "NEAR(abc, 2)",
                "OR", "AND", "NOT", "AND NOT", "abc OR", "OR abc", "(abc", "abc)", "{name}:abc", "name:abc",
                "document : 123", "-abc", "+abc", "%%%", "___", "\\\\\\", "a" * 500, "abc\x00def", "\x00\x00\x00",
                "😀😀😀", "ção" * 20, "'; DROP TABLE debtor; --", "1" * 40, "./-", "0.0.0.0",
                " ".join(["palavra"] * (MAX_SEARCH_TERMS + 3))]


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_no_typed_search_breaks_a_list(app, client, searchable, login_as, role):
    login_as(getattr(searchable, role))
    for endpoint in LISTS:
        for search in ODD_SEARCHES:
            response = client.get(f"/admin/{endpoint}/", query_string={"search": search})
            expected = 400 if "\x00" in search else 200  # the app refuses a NUL character in any request
            assert response.status_code == expected, (endpoint, search, response.status_code)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Debtor)) == len(DEBTORS) + 4


#: (form's endpoint, picker, list whose rows and searched columns it offers)
PICKERS = [("negotiation", "debtor", "debtor"), ("debt", "debtor", "debtor"), ("negotiation", "debts", "debt")]


def test_the_pickers_find_the_same_rows_from_the_index(app, client, searchable, login_as, queries):
    """The debtor and debt pickers of the forms (select2 lookups) search like the lists: the expected rows (up to
    the picker's page of 10), read from the index on SQLite for words of 3 characters or more."""
    login_as(searchable.admin_a)
    failures = []
    for endpoint, name, listed in PICKERS:
        for search in SEARCHES:
            with queries() as seen:
                found = client.get(f"/admin/{endpoint}/ajax/lookup/", query_string={"name": name, "query": search})
            assert found.status_code == 200, (endpoint, name, search)
            with app.app_context():
                expected = _expected(listed, searchable.a.id, search)
            ids = {row[0] for row in found.json}
            if ids != expected if len(expected) <= 10 else not ids <= expected or len(ids) != 10:
                failures.append(f"{endpoint}/{name} {search!r}: {sorted(ids)}, expected {sorted(expected)}")
            if not ON_POSTGRES and search in ("João", "Silva", "796.668.098-34", "CT-2024/001"):
                # a contract number: its suffixes; a word with a digit but no document in a name: the names with one
                read = ("_suffix" if listed == "debt" and search.isascii() else
                        "GLOB" if search == "CT-2024/001" else "_search MATCH")
                assert any(read in s for s in seen.statements), (endpoint, name, search)
    assert not failures, "\n".join(failures)


# --- words whose trigrams are in almost every row ------------------------------------------------------------


@pytest.fixture
def numbered(app, world):
    """Agency A's debts numbered as portfolios number them, ``CT-00000001`` onwards, and meetings whose subjects carry
    such a number: ``CT-``, ``T-0``, ``-00`` and ``000`` are in every one, so a phrase lookup reads their whole lists
    however few rows it finds. Agency B numbers its debts the same way."""
    with app.app_context():
        a = db.session.get(Agency, world.a.id)
        consultant = db.session.get(User, world.cons_a1.id)
        debtor = f.make_debtor(a, consultant, name="Numerado", document="52998224725")
        creditor = db.session.get(Creditor, world.creditor_a.id)
        for i in range(1, 151):
            f.make_debt(debtor, creditor, contract_number=f"CT-{i:08d}")
            f.make_meeting(consultant, creditor, subject=f"Contrato CT-{i:08d}")
        f.make_debt(debtor, creditor, contract_number="CT-00098765")
        f.make_meeting(consultant, creditor, subject="Contrato CT-00098765")
        b = db.session.get(Agency, world.b.id)
        other = f.make_debtor(b, None, name="Numerado B", document="41593888686")
        for i in range(1, 31):
            f.make_debt(other, db.session.get(Creditor, world.creditor_b.id), contract_number=f"CT-{i:08d}")
        db.session.commit()
    return world


class _Recorded:
    """The statements and parameters sent inside ``with _Recorded(app) as seen:``."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.statements: list[tuple[str, tuple]] = []

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        values = parameters.values() if isinstance(parameters, dict) else parameters  # psycopg: by name
        self.statements.append((statement, tuple(values or ())))

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc_info):
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _matches(seen) -> list[str]:
    """The full-text lookups of the rows (not the trigrams' probes, which read ``PROBE_ROWS``)."""
    return [str(params[0]) for sql, params in seen.statements
            if "_search MATCH" in sql and f"LIMIT {PROBE_ROWS}" not in sql]


def test_a_long_word_is_looked_up_by_its_rarest_trigrams(app, client, numbered, login_as, monkeypatch):
    """SQLite: ``CT-00098765`` in a meeting's subject is looked up as the AND of three of its rarest trigrams (probed
    in the index), not as the phrase of all nine, whose common trigrams cost in proportion to the table; the rows
    found are the same."""
    login_as(numbered.admin_a)
    with _Recorded(app) as seen:
        page = client.get("/admin/meeting/", query_string={"search": "CT-00098765"}).text
    assert "CT-00098765" in page and "CT-00000001" not in page and "Listar (1)" in page
    if ON_POSTGRES:
        return
    lookups = _matches(seen)
    assert len(lookups) == 1, lookups
    grams = re.findall(r'subject : "([^"]+)"', lookups[0])
    assert len(grams) == 3 and " AND " in lookups[0], lookups
    assert not {"ct-", "t-0", "-00", "000", "ct-00098765"} & set(grams), grams  # the common ones are left out
    # Every trigram common (CT-00000001): when the rarest ones find more rows than the index serves (here 40),
    # the phrase finds the one.
    monkeypatch.setattr(_view(app, "meeting"), "search_index_limit", 40)
    with _Recorded(app) as seen:
        page = client.get("/admin/meeting/", query_string={"search": "CT-00000001"}).text
    assert "CT-00000001" in page and "CT-00000002" not in page and "Listar (1)" in page
    assert '(subject : "CT-00000001")' in _matches(seen), _matches(seen)


def _suffix_rows(table_name: str) -> set[tuple]:
    return set(db.session.execute(db.text(f"SELECT agency_id, suffix, row_id FROM {table_name}_contract_number_suffix")))


def _written_out_suffixes(model) -> set[tuple]:
    """What the suffix index of ``model``'s contract numbers must hold, written out: every suffix of 3 characters or
    more, lower-cased as the database folds case, cut to 16 characters."""
    rows = db.session.execute(select(model.agency_id, model.contract_number, model.id)).all()
    return {(agency, _fold(contract)[i:i + 16], row_id) for agency, contract, row_id in rows
            for i in range(len(contract) - 2)}


def test_a_contract_number_without_a_rare_trigram_is_one_range_of_the_suffix_index(app, client, numbered,
                                                                                    login_as):
    """``CT-00000001``: every trigram (``ct-``, ``000``, ``001``) is in every contract, so no trigram index finds it
    in time that does not grow with the table. Both databases read the agency's suffixes that start with it, one
    range of the suffix index's primary key, and find exactly that debt (not agency B's)."""
    login_as(numbered.admin_a)
    with _Recorded(app) as seen:
        page = client.get("/admin/debt/", query_string={"search": "ct-00000001"}).text
    assert "CT-00000001" in page and "CT-00000002" not in page and "Listar (1)" in page
    lookups = [(sql, params) for sql, params in seen.statements if "debt_contract_number_suffix" in sql]
    assert len(lookups) == 1 and not _matches(seen), seen.statements
    assert numbered.a.id in lookups[0][1] and {"ct-00000001", "ct-00000002"} <= set(lookups[0][1])  # [low, high)
    with app.app_context():
        from tests.test_list_plans import _plan

        plan = " ".join(_plan(suffix_lookup(Debt.__table__.c.contract_number, numbered.a.id, "CT-00000001")))
    if ON_POSTGRES:  # (enable_seqscan off: the tables are tiny here)
        assert "Index Only Scan using pk_debt_contract_number_suffix" in plan, plan
    else:
        assert "SEARCH debt_contract_number_suffix USING PRIMARY KEY (agency_id=? AND suffix>? AND suffix<?)" \
            in plan, plan
    # A word found in the middle or at the end of the number, and in upper or lower case
    for word, found in (("00000015", {"CT-00000015"}), ("0098765", {"CT-00098765"}),
                        ("T-0000014", {f"CT-{i:08d}" for i in range(140, 150)})):
        page = client.get("/admin/debt/", query_string={"search": word}).text
        assert set(re.findall(r"CT-\d{8}", page)) == found, word


def test_the_suffix_index_follows_every_write(app, numbered):
    """The suffix index holds exactly every suffix of every contract number, whatever wrote it: the app's inserts,
    an edit of the number, a debt moved to another agency, a delete, and plain SQL (an import's ``INSERT …
    SELECT``)."""
    with app.app_context():
        assert _suffix_rows("debt") == _written_out_suffixes(Debt)
        debts = db.session.scalars(select(Debt).where(Debt.agency_id == numbered.a.id).order_by(Debt.id)).all()
        debts[0].contract_number = "Nº ÇÃO-77/X"
        debts[1].agency_id = numbered.b.id
        db.session.delete(debts[2])
        db.session.commit()
        db.session.execute(db.text(
            "INSERT INTO debt (agency_id, debtor_id, creditor_id, consultant_id, contract_number, amount, due_date, "
            "status, created_at) SELECT agency_id, debtor_id, creditor_id, consultant_id, contract_number || '-B', "
            "amount, due_date, status, created_at FROM debt WHERE id = :id"), {"id": debts[3].id})
        db.session.execute(db.text("UPDATE debt SET contract_number = 'AB' WHERE id = :id"), {"id": debts[4].id})
        if not ON_POSTGRES:  # SQLite does not enforce VARCHAR(40): a longer number written by SQL is indexed whole
            db.session.execute(db.text("UPDATE debt SET contract_number = :c WHERE id = :id"),
                               {"c": "LONGO-" + "7" * 60 + "-FIM", "id": debts[5].id})
        db.session.commit()
        assert _suffix_rows("debt") == _written_out_suffixes(Debt)
        negativation = Negativation(agency_id=numbered.a.id, debt_id=debts[5].id, debtor_id=debts[5].debtor_id,
                                    creditor_id=debts[5].creditor_id, document="52998224725",
                                    contract_number="CT-2025/000123", amount=Decimal("10.00"),
                                    due_date=date(2025, 1, 10), expires_on=date(2030, 1, 10))
        db.session.add(negativation)
        db.session.commit()
        assert _suffix_rows("negativation") == _written_out_suffixes(Negativation)
        db.session.delete(negativation)
        db.session.commit()
        assert _suffix_rows("negativation") == set()


def test_a_word_the_index_cannot_narrow_lists_without_a_total(app, client, numbered, login_as, monkeypatch):
    """A word in more rows than SQLite's index serves is found by the LIKE in the list's order (a page at a time);
    the list then shows no total and pages forward one at a time, instead of a count that reads every match (it grew
    with the table: bench/RESULTS.md). On PostgreSQL every contains-search is like that (the trigram index returns
    all the matches before a count could stop). A result that fits in the first page is counted from it; a word
    SQLite's index narrows keeps its capped count."""
    view = _view(app, "debt")
    monkeypatch.setattr(view, "search_index_limit", 40)
    login_as(numbered.admin_a)
    with _Recorded(app) as seen:
        page = client.get("/admin/debt/", query_string={"search": "CT-000000"}).text
    assert page.count("CT-000000") >= 20
    counted = any(re.search(r"count\(\*\).*FROM debt", sql, re.S) for sql, _ in seen.statements)
    assert not counted and "Listar (" not in page and 'id="uncounted-search"' in page
    assert "page=1" in page  # the next page
    second = client.get("/admin/debt/", query_string={"search": "CT-000000", "page": 1}).text
    assert second.count("CT-000000") >= 20 and 'id="uncounted-search"' in second
    with _Recorded(app) as seen:
        narrow = client.get("/admin/debt/", query_string={"search": "CT-00098765"}).text
    assert "Listar (1)" in narrow and 'id="uncounted-search"' not in narrow
    counted = any(re.search(r"count\(\*\).*FROM debt", sql, re.S) for sql, _ in seen.statements)
    assert counted is not ON_POSTGRES  # SQLite: the index's ids, counted; PostgreSQL: the first page's rows
    few = client.get("/admin/debt/", query_string={"search": "CT-0000014"}).text  # CT-00000140 … 149: 10 rows
    assert "Listar (10)" in few and 'id="uncounted-search"' not in few
    short = client.get("/admin/debt/", query_string={"search": "CT"}).text  # too short for the index: SQLite counts
    assert ("Listar (" in short) is not ON_POSTGRES and ('id="uncounted-search"' in short) is ON_POSTGRES


def test_searches_after_analyze_find_the_same_rows(app, searchable, monkeypatch):
    """With the database's statistics gathered (``ANALYZE``), as in production: every typed search still finds
    exactly the expected rows. PostgreSQL then plans a contains-search from the column's sample (its three rarest
    trigrams for the index, the whole text checked per row: ``pg_contains_clause``; every word counted as rare
    here, the tables being tiny); SQLite keeps reading its full-text index."""
    from admin_views import base

    monkeypatch.setattr(base, "PG_COMMON_SHARE", 1.01)
    base._pg_samples.clear()
    failures, planned = [], 0
    with app.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
        for endpoint, view, search, expected in _each_search(app, searchable):
            ids, count, statement = _found(view, search)
            if ids != expected or count != len(expected):
                failures.append(f"{endpoint} {search!r}: {sorted(ids)} (total {count}), expected {sorted(expected)}")
            planned += ("concat(" in statement) if ON_POSTGRES else ("_search MATCH" in statement)
    base._pg_samples.clear()
    assert not failures, "\n".join(failures)
    assert planned > 20
