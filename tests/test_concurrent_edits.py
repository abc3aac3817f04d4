"""Two people editing the same row: the second save is refused instead of silently undoing the first."""

import re

from models import Creditor, Meeting, db
from tests.conftest import Auth, csrf_from


def _form_values(html):
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))


def test_second_stale_save_is_refused_and_first_is_kept(app, world):
    first, second = app.test_client(), app.test_client()
    Auth(first).login(world.admin_a)
    Auth(second).login(world.admin_a)
    url = f"/admin/creditor/edit/?id={world.creditor_a.id}"
    page_1, page_2 = first.get(url).text, second.get(url).text
    base = {
        "name": "Credor Alfa",
        "cnpj": world.creditor_a.cnpj,
        "contact_email": world.creditor_a.contact_email,
    }
    saved = first.post(
        url,
        data=dict(
            base,
            contact_name="Joana (nova contato)",
            csrf_token=csrf_from(page_1),
            row_version=_form_values(page_1)["row_version"],
        ),
    )
    assert saved.status_code == 302
    stale = second.post(
        url,
        data=dict(
            base,
            phone="(11) 4000-0000",
            csrf_token=csrf_from(page_2),
            row_version=_form_values(page_2)["row_version"],
        ),
    )
    assert stale.status_code == 200
    assert "alterado por outra pessoa" in stale.text
    with app.app_context():
        creditor = db.session.get(Creditor, world.creditor_a.id)
        assert creditor.contact_name == "Joana (nova contato)" and creditor.phone is None
    # Re-opening the form shows the current values and the save goes through.
    fresh = second.get(url).text
    ok = second.post(
        url,
        data=dict(
            base,
            contact_name="Joana (nova contato)",
            phone="(11) 4000-0000",
            csrf_token=csrf_from(fresh),
            row_version=_form_values(fresh)["row_version"],
        ),
    )
    assert ok.status_code == 302
    with app.app_context():
        assert db.session.get(Creditor, world.creditor_a.id).phone == "(11) 4000-0000"


def test_meeting_notes_are_not_lost_to_a_stale_form(app, world):
    consultant, admin = app.test_client(), app.test_client()
    Auth(consultant).login(world.cons_a1)
    Auth(admin).login(world.admin_a)
    url = f"/admin/meeting/edit/?id={world.meeting_a1.id}"
    page_c, page_a = consultant.get(url).text, admin.get(url).text

    def post(client, page, **changes):
        values = _form_values(page)
        data = {
            "csrf_token": csrf_from(page),
            "row_version": values["row_version"],
            "creditor": world.creditor_a.id,
            "subject": "Reunião de A1",
            "starts_at": values["starts_at"],
            "ends_at": values["ends_at"],
            "duration": "60",
            "place": "Sala 1",
            "owner": world.cons_a1.id,
            "status": "agendada",
            "notes": "",
            "productive": "",
        }
        data.update(changes)
        return client.post(url, data=data)

    assert post(consultant, page_c, notes="Credor pediu nova proposta.", productive="1").status_code == 302
    assert "alterado por outra pessoa" in post(admin, page_a, place="Sala 9").text
    with app.app_context():
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        assert meeting.notes == "Credor pediu nova proposta." and meeting.place == "Sala 1"
