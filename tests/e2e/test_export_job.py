"""A big list's export in Chromium: the Export link opens the job page at once, the page follows the job and then
offers "Baixar arquivo (CSV)", whose download holds the list's rows as searched."""

import csv
import io

from playwright.sync_api import expect
from sqlalchemy import func, select

from models import Debtor, db


def test_export_of_a_big_list_goes_to_the_job_page_and_downloads_the_file(new_session, live_server, tmp_path):
    app = live_server.app
    saved = {k: app.config.get(k) for k in ("EXPORT_JOB_THRESHOLD", "EXPORT_DIR")}
    app.config.update(EXPORT_JOB_THRESHOLD=1, EXPORT_DIR=str(tmp_path / "exports"))
    try:
        with live_server.db():
            from models import User

            agency_id = db.session.scalar(select(User.agency_id).where(User.email == "admin@demo.com.br"))
            expected = db.session.scalar(select(func.count(Debtor.id)).where(Debtor.agency_id == agency_id))
        assert expected > 1
        session = new_session()
        page = session.login("admin@demo.com.br")
        session.goto("/admin/debtor/")
        with page.expect_navigation():
            page.locator("a.nav-link[title='Exportar'], a.nav-link[title='Export']").first.click()
        expect(page.locator("#export-confirm-text")).to_contain_text("será preparado em segundo plano")
        with page.expect_navigation():
            page.get_by_role("button", name="Preparar arquivo").click()
        assert "/admin/jobs/details/" in page.url  # the confirmation (a POST with its CSRF token) starts the job
        expect(page.locator(".alert-dismissable")).to_contain_text("O arquivo está sendo preparado em segundo plano")
        expect(page.locator("#job-download")).to_be_visible(timeout=30_000)  # jobs.js reloads the finished page
        expect(page.locator("#job-summary")).to_contain_text(f"{expected} linha(s) exportada(s)")
        with page.expect_download() as info:
            page.locator("#job-download").click()
        download = info.value
        assert download.suggested_filename.startswith("Devedores_") and download.suggested_filename.endswith(".csv")
        text = download.path().read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        assert rows[0][0] == "Nome" and len(rows) - 1 == expected
    finally:
        app.config.update(saved)
