"""CPF/CNPJ check digits, formatting, and the debtor form's pt-BR validation."""

import pytest

from models import Debtor, db
from models.documents import format_document, is_valid_cnpj, is_valid_cpf


@pytest.mark.parametrize(
    "value,ok",
    [
        ("529.982.247-25", True),
        ("52998224725", True),
        ("529.982.247-24", False),
        ("111.111.111-11", False),
        ("00000000000", False),
        ("1234567890", False),
        ("", False),
        (None, False),
        ("abc.def.ghi-jk", False),
    ],
)
def test_cpf_check_digits(value, ok):
    assert is_valid_cpf(value) is ok


@pytest.mark.parametrize(
    "value,ok",
    [
        ("11.222.333/0001-81", True),
        ("11222333000181", True),
        ("11.222.333/0001-80", False),
        ("00000000000000", False),
        ("1122233300018", False),
    ],
)
def test_cnpj_check_digits(value, ok):
    assert is_valid_cnpj(value) is ok


def test_documents_are_formatted_the_brazilian_way():
    assert format_document("52998224725") == "529.982.247-25"
    assert format_document("11222333000181") == "11.222.333/0001-81"


def test_model_refuses_an_invalid_document():
    with pytest.raises(ValueError, match="CPF/CNPJ inválido"):
        Debtor(document="52998224724", name="X", agency_id=1)


def _debtor_form(token, **overrides):
    data = {
        "csrf_token": token,
        "name": "Maria da Silva",
        "document": "529.982.247-25",
        "birth_date": "17/05/1980",
        "street": "Rua Augusta",
        "number": "100",
        "neighbourhood": "Consolação",
        "city": "São Paulo",
        "uf": "sp",
        "cep": "01305-000",
    }
    data.update(overrides)
    return data


def test_debtor_created_with_formatted_cpf_is_stored_as_digits(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    response = client.post("/admin/debtor/new/", data=_debtor_form(csrf_token("/admin/debtor/new/")))
    assert response.status_code == 302
    with app.app_context():
        debtor = db.session.query(Debtor).filter_by(name="Maria da Silva").one()
        assert (debtor.document, debtor.cep, debtor.uf, debtor.agency_id) == (
            "52998224725",
            "01305000",
            "SP",
            world.a.id,
        )
        assert debtor.birth_date.isoformat() == "1980-05-17"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("document", "529.982.247-24", "CPF inválido: os dígitos verificadores não conferem."),
        ("document", "11.222.333/0001-80", "CNPJ inválido: os dígitos verificadores não conferem."),
        ("document", "123", "Informe um CPF (11 dígitos) ou CNPJ (14 dígitos)."),
        ("document", "", "Informe o CPF ou CNPJ."),
        ("cep", "0130", "CEP inválido"),
        ("uf", "XX", "UF inválida"),
        ("birth_date", "31/02/1980", "Data inválida"),
    ("birth_date", "31/12/9999", "não pode estar no futuro"),
        ("street", "R" * 46, "45"),
        ("neighbourhood", "B" * 21, "20"),
        ("city", "C" * 26, "25"),
        ("email", "sem-arroba", "E-mail inválido."),
    ],
)
def test_debtor_form_rejects_bad_input_in_portuguese(
    app, client, world, login_as, csrf_token, field, value, message
):
    login_as(world.admin_a)
    response = client.post(
        "/admin/debtor/new/", data=_debtor_form(csrf_token("/admin/debtor/new/"), **{field: value})
    )
    assert response.status_code == 200
    assert message in response.text
    with app.app_context():
        assert db.session.query(Debtor).filter_by(name="Maria da Silva").count() == 0


def test_duplicate_document_in_same_agency_is_a_clear_error(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    response = client.post(
        "/admin/debtor/new/",
        data=_debtor_form(csrf_token("/admin/debtor/new/"), document=world.debtor_a1.document),
    )
    assert response.status_code in (200, 302)
    page = client.get("/admin/debtor/new/").text if response.status_code == 302 else response.text
    assert "conflita com outro" in page
    with app.app_context():
        assert db.session.query(Debtor).filter_by(document=world.debtor_a1.document).count() == 1


@pytest.mark.parametrize(
    "amount,stored", [("1.234,56", "1234.56"), ("1234,5", "1234.50"), ("99.90", "99.90")]
)
def test_money_is_typed_the_brazilian_way(app, client, world, login_as, csrf_token, amount, stored):
    from models import Debt

    login_as(world.admin_a)
    response = client.post(
        "/admin/debt/new/",
        data={
            "csrf_token": csrf_token("/admin/debt/new/"),
            "debtor": world.debtor_a1.id,
            "creditor": world.creditor_a.id,
            "contract_number": "CT-MONEY",
            "amount": amount,
            "due_date": "01/02/2026",
            "status": "aberta",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert str(db.session.query(Debt).filter_by(contract_number="CT-MONEY").one().amount) == stored


@pytest.mark.parametrize(
    "amount,message",
    [("abc", "Valor inválido"), ("0", "maior que zero"), ("-5", "maior que zero"), ("1e400", "Valor")],
)
def test_bad_money_is_refused(app, client, world, login_as, csrf_token, amount, message):
    from models import Debt

    login_as(world.admin_a)
    response = client.post(
        "/admin/debt/new/",
        data={
            "csrf_token": csrf_token("/admin/debt/new/"),
            "debtor": world.debtor_a1.id,
            "creditor": world.creditor_a.id,
            "contract_number": "CT-BAD",
            "amount": amount,
            "due_date": "01/02/2026",
            "status": "aberta",
        },
    )
    assert response.status_code == 200 and message in response.text
    with app.app_context():
        assert db.session.query(Debt).filter_by(contract_number="CT-BAD").count() == 0
