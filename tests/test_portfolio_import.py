"""Portfolio import (Cadastros > Importar carteira): reading every accepted file, validation with line numbers,
the idempotent upsert, audited changes, missing debts reported, consultants, and who may do it."""

import io
import re
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from validate_docbr import CPF

from models import AuditLog, Debt, Debtor, db
from models.portfolio_import import CreditorImportMapping, ImportProblem, ImportStatus, PortfolioImport
from services.portfolio_import import parse_amount, parse_date, run_import
from services.portfolio_reader import FIELDS, guess_mapping, open_sheet, sample_csv
from tests.conftest import csrf_from

HEADER = ["Nome", "CPF/CNPJ", "Contrato", "Valor", "Vencimento", "Endereço", "Número", "Bairro", "Cidade", "UF",
          "CEP", "E-mail", "Telefone", "Nascimento"]
CPF_1, CPF_2 = "529.982.247-25", "111.444.777-35"
CNPJ_1 = "11.222.333/0001-81"


def lines():
    """A small carteira: accents, a company, Brazilian amounts and dates."""
    return [
        HEADER,
        ["José da Conceição", CPF_1, "C-001", "1.234,56", "31/12/2025", "Rua São João", "10", "Centro",
         "São Paulo", "SP", "01035-000", "jose@exemplo.com.br", "(11) 99999-0000", "17/05/1980"],
        ["Padaria Pão Quente Ltda.", CNPJ_1, "C-002", "R$ 987,00", "15/01/2026", "Avenida Paulista", "1000",
         "Bela Vista", "São Paulo", "SP", "01310100", "", "", ""],
        ["Márcia Araújo", CPF_2, "C-003", "50", "01/02/2024", "Rua das Flores", "5", "Jardim",
         "Curitiba", "PR", "80020-310", "", "", ""],
    ]


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write(tmp_path, data: bytes, suffix=".csv") -> Path:
    path = tmp_path / f"carteira{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def import_dir(app, tmp_path):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    return tmp_path / "imports"


# --- reading -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
@pytest.mark.parametrize("encoding,bom", [("utf-8", False), ("utf-8", True), ("cp1252", False)])
def test_every_accepted_csv_is_read_with_its_accents_and_line_numbers(tmp_path, delimiter, encoding, bom):
    sheet = open_sheet(write(tmp_path, sample_csv(lines(), delimiter, encoding, bom)))
    assert sheet.headers == HEADER
    rows = list(sheet.rows())
    assert [n for n, _ in rows] == [2, 3, 4]
    assert rows[0][1][0] == "José da Conceição" and rows[1][1][3] == "R$ 987,00"
    assert rows[0][1][3] == "1.234,56"  # a `,` separator file keeps the decimal comma inside its quoted cell


def test_a_quoted_cell_spanning_lines_keeps_the_following_line_numbers_true(app, world):
    rows = lines()
    rows[1][5] = "Rua São João\nBloco B"  # Excel writes Alt+Enter inside quotes
    rows.append(["Ruim", "000.000.000-00", "C-009", "1,00", "01/01/2025"])
    result = do_import(app, world, sample_csv(rows))
    with app.app_context():
        refused = db.session.scalar(select(ImportProblem).where(ImportProblem.import_id == result["id"],
                                                               ImportProblem.level == "recusada"))
    assert refused.line == 6  # header 1, José 2-3, Padaria 4, Márcia 5, this one 6


def test_xlsx_is_read_streamed_with_typed_cells(tmp_path):
    rows = lines()
    rows[1][3], rows[1][4] = 1234.56, date(2025, 12, 31)
    sheet = open_sheet(write(tmp_path, xlsx_bytes(rows), ".xlsx"))
    assert sheet.kind == "xlsx" and sheet.headers == HEADER
    read = list(sheet.rows())
    assert [n for n, _ in read] == [2, 3, 4]
    assert read[0][1][0] == "José da Conceição"


def test_a_cp1252_byte_far_down_the_file_is_still_read_as_windows_1252(tmp_path):
    rows = lines()[:2] + [["Fulano", CPF_1, f"X-{i}", "1,00", "01/01/2025"] for i in range(5000)] + \
        [["Conceição", CPF_1, "Z-1", "1,00", "01/01/2025"]]
    sheet = open_sheet(write(tmp_path, sample_csv(rows, ";", "cp1252")))
    assert list(sheet.rows())[-1][1][0] == "Conceição"


def test_headers_are_recognised_as_creditors_write_them():
    headers = ["NOME DO CLIENTE", "cpf / cnpj", "Nº Contrato", "Valor (R$)", "Data de Vencimento", "LOGRADOURO",
               "Número", "bairro", "Município", "Estado", "C.E.P.", "e-mail", "Celular", "Data de nascimento",
               "Consultor"]
    mapping = guess_mapping(headers)
    assert mapping == {"name": 0, "document": 1, "contract": 2, "amount": 3, "due_date": 4, "street": 5,
                       "number": 6, "neighbourhood": 7, "city": 8, "uf": 9, "cep": 10, "email": 11, "phone": 12,
                       "birth_date": 13, "consultant": 14}
    # A creditor's remembered mapping wins over the usual titles.
    assert guess_mapping(["Cliente", "Doc", "Ref"], {"contract": "ref", "name": "cliente"})["contract"] == 2


@pytest.mark.parametrize("typed,expected", [("1.234,56", "1234.56"), ("R$ 1.234,56", "1234.56"),
                                            ("1234,5", "1234.50"), ("1.234", "1234.00"), ("1234.56", "1234.56"),
                                            ("1,234.56", "1234.56"), ("50", "50.00"), (1234.56, "1234.56"),
                                            (0.1 + 0.2, "0.30"), (1234, "1234.00")])
def test_brazilian_amounts(typed, expected):
    assert parse_amount(typed) == Decimal(expected)


@pytest.mark.parametrize("typed", ["", "abc", "1,2,3", "0", "-5,00", "1,234", "12.34.5", "99999999999,00"])
def test_unreadable_or_impossible_amounts_are_refused(typed):
    from services.portfolio_import import RowRefused

    with pytest.raises(RowRefused):
        parse_amount(typed)


def test_brazilian_dates():
    assert parse_date("31/12/2025") == parse_date("2025-12-31") == parse_date("31.12.2025") == date(2025, 12, 31)
    from services.portfolio_import import RowRefused

    for typed in ("31/02/2025", "12/31/2025", "amanhã", ""):
        with pytest.raises(RowRefused):
            parse_date(typed)


# --- the import, through the service ----------------------------------------------------------------------------


def make_import(app, world, data: bytes, suffix=".csv", creditor_id=None, mode="nenhum", consultant_ids=()):
    """Store a file as the upload screen does and record the import with the guessed mapping."""
    from services.portfolio_import import stored_path

    name = f"{uuid.uuid4().hex}{suffix}"
    with app.app_context():
        path = stored_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sheet = open_sheet(path)
        imp = PortfolioImport(agency_id=world.a.id, creditor_id=creditor_id or world.creditor_a.id,
                              user_id=world.admin_a.id, filename="carteira" + suffix, stored_name=name,
                              size=len(data), mapping=guess_mapping(sheet.headers), consultant_mode=mode,
                              consultant_ids=list(consultant_ids))
        db.session.add(imp)
        db.session.commit()
        return imp.id


def do_import(app, world, data, **kw):
    import_id = make_import(app, world, data, **kw)
    with app.app_context():
        run_import(import_id)
        imp = db.session.get(PortfolioImport, import_id)
        return {k: getattr(imp, k) for k in ("id", "status", "created", "updated", "unchanged", "refused",
                                             "warnings", "missing", "debtors_created", "rows_done")}


def snapshot(app, world):
    with app.app_context():
        debtors = db.session.execute(select(Debtor.document, Debtor.name, Debtor.street, Debtor.cep,
                                            Debtor.consultant_id).where(Debtor.agency_id == world.a.id)
                                     .order_by(Debtor.document)).all()
        debts = db.session.execute(select(Debt.contract_number, Debt.amount, Debt.due_date, Debt.debtor_id)
                                   .where(Debt.agency_id == world.a.id).order_by(Debt.contract_number)).all()
        return debtors, debts


@pytest.mark.parametrize("kind", ["utf-8;", "utf-8-bom,", "cp1252\t", "xlsx"])
def test_a_file_imports_its_debtors_and_debts_and_twice_changes_nothing(app, world, kind):
    data = xlsx_bytes(lines()) if kind == "xlsx" else sample_csv(
        lines(), kind[-1], "cp1252" if kind.startswith("cp") else "utf-8", "bom" in kind)
    suffix = ".xlsx" if kind == "xlsx" else ".csv"
    first = do_import(app, world, data, suffix=suffix)
    assert first["status"] == ImportStatus.DONE
    assert (first["created"], first["updated"], first["unchanged"], first["refused"]) == (3, 0, 0, 0)
    with app.app_context():
        jose = db.session.scalar(select(Debtor).where(Debtor.document == "52998224725"))
        assert (jose.name, jose.street, jose.city, jose.cep, jose.email, jose.birth_date) == (
            "José da Conceição", "Rua São João", "São Paulo", "01035000", "jose@exemplo.com.br", date(1980, 5, 17))
        debt = db.session.scalar(select(Debt).where(Debt.contract_number == "C-001"))
        assert (debt.amount, debt.due_date, debt.creditor_id, debt.agency_id, debt.status) == (
            Decimal("1234.56"), date(2025, 12, 31), world.creditor_a.id, world.a.id, "aberta")
    before = snapshot(app, world)
    second = do_import(app, world, data, suffix=suffix)
    assert (second["created"], second["updated"], second["unchanged"], second["refused"]) == (0, 0, 3, 0)
    assert snapshot(app, world) == before


def test_refused_lines_carry_the_file_line_number_and_the_reason(app, world):
    rows = lines() + [
        ["Sem Documento", "123.456.789-00", "C-010", "10,00", "01/01/2025"],
        ["Valor Ruim", CPF_1, "C-011", "dez reais", "01/01/2025"],
        ["Data Ruim", CPF_1, "C-012", "10,00", "31/02/2025"],
        ["Sem Contrato", CPF_1, "", "10,00", "01/01/2025"],
        ["Repetido", CPF_1, "C-001", "10,00", "01/01/2025"],
    ]
    result = do_import(app, world, sample_csv(rows))
    assert (result["created"], result["refused"]) == (3, 5)
    with app.app_context():
        refused = {p.line: p.reason for p in db.session.scalars(
            select(ImportProblem).where(ImportProblem.import_id == result["id"], ImportProblem.level == "recusada"))}
    assert refused == {
        5: "CPF/CNPJ inválido: 123.456.789-00",
        6: "valor ilegível: dez reais",
        7: "vencimento ilegível: 31/02/2025 (use dd/mm/aaaa)",
        8: "contrato não informado",
        9: "contrato C-001 repetido no arquivo (já está na linha 2)",
    }


def test_incomplete_address_is_imported_with_a_warning(app, world):
    rows = [HEADER, ["Sem Bairro", CPF_1, "C-100", "10,00", "01/01/2025", "Rua A", "1", "", "Recife", "PE",
                     "51011000"]]
    result = do_import(app, world, sample_csv(rows))
    assert (result["created"], result["warnings"], result["refused"]) == (1, 1, 0)
    with app.app_context():
        problem = db.session.scalar(select(ImportProblem).where(ImportProblem.import_id == result["id"],
                                                                ImportProblem.level == "aviso"))
        assert problem.line == 2
        assert problem.reason == "endereço incompleto (bairro não informado): importável, mas não negativável"


def test_changed_amount_and_due_date_are_updated_and_audited(app, world):
    do_import(app, world, sample_csv(lines()))
    rows = lines()
    rows[1][3], rows[1][4] = "1.300,00", "10/01/2026"
    result = do_import(app, world, sample_csv(rows))
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 2)
    with app.app_context():
        debt = db.session.scalar(select(Debt).where(Debt.contract_number == "C-001"))
        assert (debt.amount, debt.due_date) == (Decimal("1300.00"), date(2026, 1, 10))
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "import.debt_update"))
        assert entry.agency_id == world.a.id and entry.user_id == world.admin_a.id
        assert entry.details == (f"Importação nº {result['id']}, linha 2: valor: R$ 1.234,56 → R$ 1.300,00; "
                                 "vencimento: 31/12/2025 → 10/01/2026")


def test_debts_missing_from_a_resent_file_are_reported_never_deleted(app, world):
    do_import(app, world, sample_csv(lines()))
    result = do_import(app, world, sample_csv(lines()[:2]))
    # C-002 and C-003 of this import, and the world's own CT-A1 / CT-A2 of the same creditor.
    assert result["missing"] == 4
    with app.app_context():
        missing = db.session.scalars(select(ImportProblem.cells).where(ImportProblem.import_id == result["id"],
                                                                      ImportProblem.level == "ausente")).all()
        assert sorted(c[0] for c in missing) == ["C-002", "C-003", "CT-A1", "CT-A2"]
        assert db.session.scalar(select(func.count()).select_from(Debt).where(
            Debt.contract_number.in_(["C-002", "C-003"]))) == 2


def test_round_robin_among_chosen_consultants_for_new_debtors_only(app, world):
    rows = [HEADER] + [[f"Devedor {i}", CPF().generate(), f"R-{i}", "10,00", "01/01/2025"] for i in range(5)]
    do_import(app, world, sample_csv(rows), mode="rodizio", consultant_ids=[world.cons_a1.id, world.cons_a2.id])
    with app.app_context():
        got = [db.session.scalar(select(Debtor.consultant_id).where(Debtor.name == f"Devedor {i}"))
               for i in range(5)]
    a1, a2 = world.cons_a1.id, world.cons_a2.id
    assert got == [a1, a2, a1, a2, a1]
    # Sent again with another rotation: known debtors keep their consultant.
    result = do_import(app, world, sample_csv(rows), mode="rodizio", consultant_ids=[world.cons_a2.id])
    assert result["unchanged"] == 5


def test_consultant_by_column_by_email_or_name(app, world):
    rows = [HEADER + ["Consultor"],
            ["Um", CPF().generate(), "K-1", "1,00", "01/01/2025", *[""] * 9, world.cons_a2.email.upper()],
            ["Dois", CPF().generate(), "K-2", "1,00", "01/01/2025", *[""] * 9, "consultor a1"],
            ["Três", CPF().generate(), "K-3", "1,00", "01/01/2025", *[""] * 9, world.cons_b.email]]
    result = do_import(app, world, sample_csv(rows), mode="coluna")
    with app.app_context():
        owner = dict(db.session.execute(select(Debtor.name, Debtor.consultant_id)
                                        .where(Debtor.name.in_(["Um", "Dois", "Três"]))).all())
        warning = db.session.scalar(select(ImportProblem.reason).where(ImportProblem.import_id == result["id"],
                                                                     ImportProblem.line == 4))
    assert owner == {"Um": world.cons_a2.id, "Dois": world.cons_a1.id, "Três": None}
    assert f"consultor não encontrado: {world.cons_b.email} (sem consultor)" in warning


def test_a_debtor_known_in_another_agency_is_a_new_debtor_here(app, world):
    with app.app_context():
        other = db.session.get(Debtor, world.debtor_b.id)
        document = other.document
    rows = [HEADER, ["Mesmo CPF", document, "Z-1", "1,00", "01/01/2025"]]
    do_import(app, world, sample_csv(rows))
    with app.app_context():
        assert db.session.get(Debtor, world.debtor_b.id).name == "Devedor de B"
        assert db.session.scalar(select(func.count()).select_from(Debtor).where(Debtor.document == document)) == 2


# --- the screens ------------------------------------------------------------------------------------------------

URL = "/admin/importar-carteira/"


def upload(client, csrf_token, creditor_id, data: bytes, filename="carteira.csv"):
    token = csrf_token(URL)
    return client.post(URL, data={"csrf_token": token, "creditor": str(creditor_id),
                                  "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def import_id_from(response) -> int:
    return int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))


def test_upload_mapping_preview_import_result_and_refused_download(app, world, client, login_as, csrf_token):
    from services import jobs

    login_as(world.admin_a)
    rows = lines() + [["Valor Ruim", CPF_1, "C-011", "dez reais", "01/01/2025"]]
    response = upload(client, csrf_token, world.creditor_a.id, sample_csv(rows, ";", "cp1252"))
    assert response.status_code == 302, response.text
    import_id = import_id_from(response)
    page = client.get(f"{URL}mapping/?id={import_id}")
    assert page.status_code == 200 and "CSV separado por ponto e vírgula, Windows-1252" in page.text
    # The guessed mapping is pre-selected; the admin confirms it with a round-robin over one consultant.
    form = {"csrf_token": csrf_from(page.text), "consultant_mode": "rodizio",
            "consultant_ids": [str(world.cons_a2.id)]}
    guessed = guess_mapping(HEADER)
    for name in FIELDS:
        form[f"col_{name}"] = str(guessed[name]) if name in guessed else ""
    app.config["RUN_QUEUE_AFTER_REQUEST"] = False  # see each job waiting, then let the queue run it
    response = client.post(f"{URL}mapping/?id={import_id}", data=form)
    assert response.status_code == 302
    # The whole-file check is a job too (never inside the request): its page waits for it.
    checking = client.get(f"{URL}preview/?id={import_id}")
    assert 'id="checking"' in checking.text and 'http-equiv="refresh"' in checking.text
    assert jobs.run_pending(app) == 1
    preview = client.get(f"{URL}preview/?id={import_id}")
    assert preview.status_code == 200
    assert re.search(r'id="count-total">4<', preview.text) and re.search(r'id="count-refused">1<', preview.text)
    assert "José da Conceição" in preview.text and "529.982.247-25" in preview.text and "R$ 1.234,56" in preview.text
    assert "<td>5</td>" in preview.text and "valor ilegível: dez reais" in preview.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Debt).where(Debt.contract_number == "C-001")) == 0
    response = client.post(f"{URL}start/", data={"csrf_token": csrf_from(preview.text), "id": import_id})
    assert response.status_code == 302 and "/admin/jobs/details/" in response.headers["Location"]
    job_page = client.get(response.headers["Location"])
    assert "Importação de carteira" in job_page.text and f"result/?id={import_id}" in job_page.text
    running = client.get(f"{URL}result/?id={import_id}")
    assert 'http-equiv="refresh"' in running.text and 'id="import-progress"' in running.text
    assert jobs.run_pending(app) == 1
    result = client.get(f"{URL}result/?id={import_id}")
    assert re.search(r'id="result-created">3<', result.text) and re.search(r'id="result-refused">1<', result.text)
    assert 'http-equiv="refresh"' not in result.text
    summary = client.get(response.headers["Location"]).text
    assert f"Importação de carteira nº {import_id}: 3 criada(s) · 0 atualizada(s) · 0 sem alteração · 1 recusada(s)" \
        in summary
    with app.app_context():
        assert db.session.scalar(select(Debtor.consultant_id).where(Debtor.document == "52998224725")) == \
            world.cons_a2.id
        remembered = db.session.get(CreditorImportMapping, world.creditor_a.id).mapping
        assert remembered["contract"] == "contrato" and remembered["street"] == "endereco"
        from models.job import Job

        job = db.session.get(Job, db.session.get(PortfolioImport, import_id).job_id)
        assert (job.kind, job.state, job.summary["criadas"], job.summary["recusadas"]) == ("import", "concluida", 3, 1)
    csv_file = client.get(f"{URL}download/?id={import_id}&what=recusadas&format=csv")
    text = csv_file.data.decode("utf-8-sig").splitlines()
    assert text[0].endswith("Linha no arquivo;Motivo da recusa") and text[0].startswith("Nome;CPF/CNPJ;Contrato")
    assert text[1].startswith("Valor Ruim;529.982.247-25;C-011;dez reais;01/01/2025")
    assert text[1].endswith(";5;valor ilegível: dez reais")
    book = load_workbook(io.BytesIO(client.get(f"{URL}download/?id={import_id}&what=recusadas&format=xlsx").data))
    assert list(book.active.values)[1][-2:] == ("5", "valor ilegível: dez reais")


def test_the_next_file_of_the_creditor_gets_the_remembered_mapping(app, world, client, login_as, csrf_token):
    login_as(world.admin_a)
    with app.app_context():
        db.session.add(CreditorImportMapping(creditor_id=world.creditor_a.id, agency_id=world.a.id,
                                             mapping={"contract": "ref", "name": "cliente", "document": "doc"}))
        db.session.commit()
    data = sample_csv([["Cliente", "Doc", "Ref", "Valor", "Vencimento"], ["Ana", CPF_1, "R-1", "1,00", "01/01/2025"]])
    import_id = import_id_from(upload(client, csrf_token, world.creditor_a.id, data))
    with app.app_context():
        assert db.session.get(PortfolioImport, import_id).mapping == {
            "contract": 2, "name": 0, "document": 1, "amount": 3, "due_date": 4}


def test_unreadable_files_get_a_ptbr_reason_and_nothing_is_kept(app, world, client, login_as, csrf_token,
                                                                 import_dir):
    login_as(world.admin_a)
    old_xls = b"\xd0\xcf\x11\xe0" + b"\0" * 100
    response = upload(client, csrf_token, world.creditor_a.id, old_xls, "carteira.xls")
    assert response.status_code == 400 and "Planilhas .xls (Excel 97-2003) não são lidas" in response.text
    response = upload(client, csrf_token, world.creditor_a.id, b"", "vazio.csv")
    assert response.status_code == 400 and "O arquivo está vazio." in response.text
    app.config["IMPORT_MAX_BYTES"] = 1000
    response = upload(client, csrf_token, world.creditor_a.id, sample_csv(lines()) * 20)
    assert response.status_code in (400, 413) and "O arquivo passa do limite de" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PortfolioImport)) == 0
    assert not any(import_dir.glob("*")) if import_dir.exists() else True


def test_another_agencys_creditor_or_import_is_404_and_consultants_403(app, world, client, login_as, csrf_token,
                                                                       auth):
    import_id = make_import(app, world, sample_csv(lines()))
    login_as(world.admin_b)
    response = upload(client, csrf_token, world.creditor_a.id, sample_csv(lines()))
    assert response.status_code == 404
    for path in ("mapping/", "preview/", "result/", "download/"):
        assert client.get(f"{URL}{path}?id={import_id}&what=recusadas&format=csv").status_code == 404, path
    token = csrf_token(URL)
    assert client.post(f"{URL}start/", data={"csrf_token": token, "id": import_id}).status_code == 404
    auth.logout()
    login_as(world.cons_a1)
    for path in ("", "exemplo/", f"mapping/?id={import_id}", f"preview/?id={import_id}", f"result/?id={import_id}"):
        assert client.get(URL + path).status_code == 403, path
    token = csrf_token("/admin/")
    assert client.post(f"{URL}start/", data={"csrf_token": token, "id": import_id}).status_code == 403
    assert "Importar carteira" not in client.get("/admin/").text
    with app.app_context():
        assert db.session.get(PortfolioImport, import_id).status == ImportStatus.UPLOADED
        assert db.session.scalar(select(func.count()).select_from(Debtor).where(Debtor.agency_id == world.b.id)) == 1


def test_no_state_change_without_csrf(app, world, client, login_as):
    import_id = make_import(app, world, sample_csv(lines()))
    login_as(world.admin_a)
    client.post(URL, data={"creditor": str(world.creditor_a.id), "file": (io.BytesIO(sample_csv(lines())), "a.csv")},
                content_type="multipart/form-data")
    client.post(f"{URL}start/", data={"id": import_id})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PortfolioImport)) == 1
        assert db.session.get(PortfolioImport, import_id).status == ImportStatus.UPLOADED


def test_the_sample_carteira_imports_with_its_warnings_and_refusals(app, world):
    from admin_views.portfolio_import import SAMPLE_FILE

    result = do_import(app, world, SAMPLE_FILE.read_bytes())
    assert (result["created"], result["warnings"], result["refused"]) == (12, 1, 3)


def test_an_interrupted_import_run_again_completes_without_duplicates(app, world, monkeypatch):
    """A worker that dies mid-file: the job layer runs the import again; the upsert makes that safe."""
    import services.portfolio_import as service

    monkeypatch.setattr(service, "CHUNK", 2)
    rows = [HEADER] + [[f"Interrompido {i}", CPF().generate(), f"I-{i}", "10,00", "01/01/2025"] for i in range(7)]
    import_id = make_import(app, world, sample_csv(rows))
    with app.app_context():
        calls = iter([False, True])  # the second check between chunks says "stop": 4 lines are in
        run_import(import_id, should_cancel=lambda: next(calls))
        imp = db.session.get(PortfolioImport, import_id)
        assert (imp.status, imp.rows_done) == (ImportStatus.CANCELLED, 4)
        imp.status = ImportStatus.RUNNING  # what a resumed job finds
        db.session.commit()
        run_import(import_id)
        imp = db.session.get(PortfolioImport, import_id)
        assert (imp.status, imp.created, imp.unchanged, imp.rows_done) == (ImportStatus.DONE, 3, 4, 7)
        assert db.session.scalar(select(func.count()).select_from(Debt).where(Debt.contract_number.like("I-%"))) == 7
        assert db.session.scalar(select(func.count()).select_from(Debtor).where(Debtor.name.like("Interrompido %"))) == 7


def test_a_check_overtaken_by_a_new_mapping_does_not_overwrite_its_preview(app, world):
    """Columns changed while the first Conferência ran: only the newest check's result is shown."""
    from services import jobs
    from services.portfolio_import import CHECK_KIND

    import_id = make_import(app, world, sample_csv(lines()))
    app.config["RUN_QUEUE_AFTER_REQUEST"] = False
    with app.app_context():
        imp = db.session.get(PortfolioImport, import_id)
        agency, user = imp.agency_id, imp.user_id
        first = jobs.start(CHECK_KIND, agency, user, payload={"import_id": import_id}).id
        imp = db.session.get(PortfolioImport, import_id)
        imp.mapping = {k: v for k, v in imp.mapping.items() if k != "amount"} | {"amount": 2}  # Contrato as Valor
        second = jobs.start(CHECK_KIND, agency, user, payload={"import_id": import_id}).id
        db.session.get(PortfolioImport, import_id).job_id = second
        db.session.commit()
        jobs.run_job(app, first)
        db.session.expire_all()
        assert db.session.get(PortfolioImport, import_id).preview is None
        jobs.run_job(app, second)
        db.session.expire_all()
        preview = db.session.get(PortfolioImport, import_id).preview
        assert (preview["total"], preview["refused"]) == (3, 3)  # "C-001" is no amount
