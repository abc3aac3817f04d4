"""Cadastros > Importar carteira: upload → column mapping → preview → import (a job) → result.

Administrators only (importing is agency management); every step is scoped to the agency, every POST has a CSRF
token, the file is kept under the instance folder (``IMPORT_DIR``) and never in the database.
"""

from __future__ import annotations

from pathlib import Path

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select, update
from wtforms import FileField, RadioField, SelectField, SelectMultipleField
from wtforms.validators import DataRequired
from wtforms.widgets import CheckboxInput, ListWidget

from admin_views.base import AccessMixin, PanelSecureForm, _parse_id, audit
from admin_views.export import spreadsheet_response
from admin_views.fields import choices
from models import Creditor, User, db
from models.agency import Capability, roles_with
from models.job import Job, JobState
from models.portfolio_import import (
    CreditorImportMapping,
    ImportProblem,
    ImportStatus,
    PortfolioImport,
    ProblemLevel,
)
from services import jobs
from services import portfolio_import as service
from services.portfolio_reader import FIELDS, REQUIRED, UnreadableFile, normalise_header, open_sheet

#: The sample carteira shipped with the demo (try it on the upload page).
SAMPLE_FILE = Path(__file__).resolve().parent.parent / "docs" / "exemplo-carteira.csv"
CONSULTANT_MODES = {"nenhum": "Não atribuir consultor", "coluna": "Pela coluna Consultor do arquivo (e-mail ou nome)",
                    "rodizio": "Rodízio entre os consultores escolhidos (só devedores novos)"}


class UploadForm(PanelSecureForm):
    #: The choices are the agency's creditors; any other id is answered 404 (as every screen does), not a message.
    creditor = SelectField("Credor *", validators=[DataRequired(message="Escolha o credor.")], validate_choice=False)
    file = FileField("Arquivo da carteira (CSV ou Excel .xlsx) *")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _creditors():
    return db.session.scalars(select(Creditor).where(Creditor.agency_id == current_user.agency_id)
                              .order_by(Creditor.name)).all()


def _consultants():
    return db.session.scalars(select(User).where(User.agency_id == current_user.agency_id,
                                                 User.role.in_(roles_with(Capability.HOLD_PORTFOLIO)),
                                                 User.active.is_(True))
                              .order_by(User.name)).all()


def mapping_form(headers: list[str], formdata=None, data=None):
    """The mapping form: one select per field (the file's columns), the consultant assignment."""
    column_choices = choices([("", "— não importar —")] + [(str(i), h or f"(coluna {i + 1} sem título)")
                                                          for i, h in enumerate(headers)])

    class MappingForm(PanelSecureForm):
        consultant_mode = RadioField("Consultor dos devedores novos", choices=choices(CONSULTANT_MODES.items()),
                                     default="nenhum")
        consultant_ids = MultiCheckboxField("Consultores do rodízio",
                                            choices=choices((u.id, u.name) for u in _consultants()))

    for name, (label, _) in FIELDS.items():
        setattr(MappingForm, f"col_{name}", SelectField(label + (" *" if name in REQUIRED else ""),
                                                        choices=column_choices))
    return MappingForm(formdata, data=data)


class PortfolioImportView(AccessMixin, BaseView):
    """The import screens. Consultants get 403 (not their work); other agencies' imports answer 404."""

    def is_visible(self):
        return current_user.is_authenticated and current_user.can(Capability.MANAGE_AGENCY)

    def _admin(self) -> None:
        if not current_user.can(Capability.MANAGE_AGENCY):
            abort(403)

    def _import(self, raw_id) -> PortfolioImport:
        self._admin()
        imp = db.session.get(PortfolioImport, _parse_id(raw_id))
        if imp is None or imp.agency_id != current_user.agency_id:
            abort(404)
        return imp

    # --- 1. upload ------------------------------------------------------------------------------------------
    @expose("/", methods=("GET", "POST"))
    def index(self):
        self._admin()
        form = UploadForm(request.form if request.method == "POST" else None)
        form.creditor.choices = choices([("", "— escolha —")] + [(c.id, c.name) for c in _creditors()])
        status = 200
        too_big = (request.content_length or 0) > current_app.config["IMPORT_MAX_BYTES"] + 64 * 1024
        if request.method == "POST" and too_big:  # refused before the body is read
            limit = current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024)
            flash(f"O arquivo passa do limite de {limit} MB.", "error")
            status = 413
        elif request.method == "POST":
            if form.validate():
                imp = self._store_upload(form)
                if imp is not None:
                    return redirect(self.get_url(".mapping_view", id=imp.id))
            status = 400
        recent = db.session.scalars(select(PortfolioImport).where(PortfolioImport.agency_id == current_user.agency_id)
                                    .order_by(PortfolioImport.id.desc()).limit(20)).all()
        limit_mb = current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024)
        return self.render("admin/portfolio_import/upload.html", form=form, recent=recent, limit_mb=limit_mb), status

    def _store_upload(self, form) -> PortfolioImport | None:
        creditor = db.session.get(Creditor, _parse_id(form.creditor.data))
        if creditor is None or creditor.agency_id != current_user.agency_id:
            abort(404)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            form.file.errors = ["Escolha o arquivo da carteira."]
            return None
        try:
            imp = service.store_upload(upload.stream, upload.filename, creditor, current_user,
                                       current_app.config["IMPORT_MAX_BYTES"])
        except service.UploadRefused as exc:
            form.file.errors = [str(exc)]
            return None
        audit("import.upload", target=f"Importação de carteira nº {imp.id}",
              details=f"credor={creditor.name}; arquivo={imp.filename}; bytes={imp.size}")
        db.session.commit()
        return imp

    # --- 2. mapping -----------------------------------------------------------------------------------------
    @expose("/mapping/", methods=("GET", "POST"))
    def mapping_view(self):
        imp = self._import(request.values.get("id"))
        if imp.status != ImportStatus.UPLOADED:
            return redirect(self.get_url(".result_view", id=imp.id))
        sheet = self._sheet(imp)
        data = {f"col_{k}": str(v) for k, v in imp.mapping.items()}
        data |= {"consultant_mode": imp.consultant_mode, "consultant_ids": [str(i) for i in imp.consultant_ids]}
        form = mapping_form(sheet.headers, request.form if request.method == "POST" else None, data)
        if request.method == "POST":
            if form.validate() and self._mapping_ok(form, sheet.headers):
                mapping = {k: int(getattr(form, f"col_{k}").data) for k in FIELDS if getattr(form, f"col_{k}").data}
                imp.mapping = mapping
                imp.consultant_mode = form.consultant_mode.data
                imp.consultant_ids = ([int(i) for i in form.consultant_ids.data]
                                      if form.consultant_mode.data == "rodizio" else [])
                remembered = db.session.get(CreditorImportMapping, imp.creditor_id) or CreditorImportMapping(
                    creditor_id=imp.creditor_id, agency_id=imp.agency_id)
                remembered.mapping = {k: normalise_header(sheet.headers[i]) for k, i in mapping.items()}
                db.session.add(remembered)
                imp.preview = None  # a new mapping: conferred again, off the request
                audit("import.check", target=f"Importação de carteira nº {imp.id}",
                      details=f"colunas={mapping}; consultor={imp.consultant_mode}")
                db.session.commit()
                job = jobs.start(service.CHECK_KIND, current_user.agency, current_user, payload={"import_id": imp.id})
                imp.job_id = job.id
                db.session.commit()
                return redirect(self.get_url(".preview_view", id=imp.id))
            return self.render("admin/portfolio_import/mapping.html", imp=imp, form=form, sheet=sheet,
                               fields=FIELDS), 400
        return self.render("admin/portfolio_import/mapping.html", imp=imp, form=form, sheet=sheet, fields=FIELDS)

    def _mapping_ok(self, form, headers) -> bool:
        ok = True
        used: dict[str, str] = {}
        for name, (label, _) in FIELDS.items():
            field = getattr(form, f"col_{name}")
            if name in REQUIRED and not field.data:
                field.errors = [*field.errors, f"Escolha a coluna de {label}."]
                ok = False
            if field.data:
                if field.data in used:
                    field.errors = [*field.errors, f"Esta coluna já está em {used[field.data]}."]
                    ok = False
                used[field.data] = label
        if form.consultant_mode.data == "coluna" and not form.col_consultant.data:
            form.consultant_mode.errors = [*form.consultant_mode.errors, "Escolha a coluna Consultor do arquivo."]
            ok = False
        if form.consultant_mode.data == "rodizio" and not form.consultant_ids.data:
            form.consultant_ids.errors = [*form.consultant_ids.errors, "Escolha ao menos um consultor."]
            ok = False
        return ok

    def _sheet(self, imp):
        try:
            return open_sheet(service.stored_path(imp.stored_name))
        except (UnreadableFile, OSError):
            flash("O arquivo desta importação não está mais disponível: envie-o de novo.", "error")
            abort(404)

    # --- 3. preview -----------------------------------------------------------------------------------------
    @expose("/preview/")
    def preview_view(self):
        imp = self._import(request.args.get("id"))
        if imp.status != ImportStatus.UPLOADED:
            return redirect(self.get_url(".result_view", id=imp.id))
        if imp.preview is None:  # the Conferência job is on its way: its progress, the page refreshes itself
            job = db.session.get(Job, imp.job_id) if imp.job_id else None
            if job is None or job.state in (JobState.FAILED, JobState.CANCELLED):
                flash("A conferência do arquivo não terminou: confira as colunas e tente de novo.", "error")
                return redirect(self.get_url(".mapping_view", id=imp.id))
            return self.render("admin/portfolio_import/checking.html", imp=imp, job=job,
                               job_url=url_for("jobs.details_view", id=job.id))
        if imp.preview.get("error"):
            flash(imp.preview["error"], "error")
            return redirect(self.get_url(".mapping_view", id=imp.id))
        return self.render("admin/portfolio_import/preview.html", imp=imp, result=imp.preview, fields=FIELDS,
                           form=PanelSecureForm(), modes=CONSULTANT_MODES,
                           consultants={u.id: u.name for u in _consultants()})

    # --- 4. import as a job ---------------------------------------------------------------------------------
    @expose("/start/", methods=("POST",))
    def start_view(self):
        imp = self._import(request.form.get("id"))
        form = PanelSecureForm(request.form)
        if not form.validate():
            flash("A página expirou: confira e importe de novo.", "error")
            return redirect(self.get_url(".preview_view", id=imp.id))
        if not imp.preview or imp.preview.get("error"):
            return redirect(self.get_url(".preview_view", id=imp.id))
        busy = db.session.scalar(select(PortfolioImport.id).where(
            PortfolioImport.creditor_id == imp.creditor_id, PortfolioImport.status == ImportStatus.RUNNING))
        if busy:
            flash(f"A importação nº {busy} deste credor ainda está em andamento: aguarde o fim dela.", "error")
            return redirect(self.get_url(".preview_view", id=imp.id))
        # Exactly once: the conditional UPDATE lets one of simultaneous clicks start the job.
        claimed = db.session.execute(update(PortfolioImport).where(
            PortfolioImport.id == imp.id, PortfolioImport.status == ImportStatus.UPLOADED)
            .values(status=ImportStatus.RUNNING).execution_options(synchronize_session=False)).rowcount
        if not claimed:
            db.session.rollback()
            return redirect(self.get_url(".result_view", id=imp.id))
        audit("import.start", target=f"Importação de carteira nº {imp.id}",
              details=f"credor={imp.creditor.name}; arquivo={imp.filename}; linhas={imp.rows_total}")
        job = jobs.start(service.JOB_KIND, current_user.agency, current_user, total=imp.rows_total,
                         payload={"import_id": imp.id})
        db.session.execute(update(PortfolioImport).where(PortfolioImport.id == imp.id).values(job_id=job.id))
        db.session.commit()
        # The job layer's page shows the progress bar and Cancelar, and links back to the result.
        return redirect(url_for("jobs.details_view", id=job.id))

    # --- 5. progress and result -----------------------------------------------------------------------------
    @expose("/result/")
    def result_view(self):
        imp = self._import(request.args.get("id"))
        if imp.status == ImportStatus.UPLOADED:
            return redirect(self.get_url(".preview_view", id=imp.id))
        problems = db.session.scalars(select(ImportProblem).where(
            ImportProblem.import_id == imp.id, ImportProblem.level != ProblemLevel.MISSING)
            .order_by(ImportProblem.line).limit(100)).all()
        missing = db.session.scalars(select(ImportProblem).where(
            ImportProblem.import_id == imp.id, ImportProblem.level == ProblemLevel.MISSING)
            .order_by(ImportProblem.id).limit(100)).all()
        job_url = None
        if imp.job_id and "jobs.details_view" in current_app.view_functions:
            job_url = url_for("jobs.details_view", id=imp.job_id)
        return self.render("admin/portfolio_import/result.html", imp=imp, problems=problems, missing=missing,
                           job_url=job_url, running=imp.status == ImportStatus.RUNNING)

    @expose("/download/")
    def download_view(self):
        """The refused lines (the file's own columns + line + reason, to fix and resend) or the missing debts."""
        imp = self._import(request.args.get("id"))
        what, fmt = request.args.get("what"), request.args.get("format")
        if what not in service.PROBLEM_DOWNLOADS or fmt not in ("csv", "xlsx"):
            abort(404)
        header, rows = service.problem_rows(imp, what, self._sheet(imp).headers)
        name = f"importacao-{imp.id}-{what}"
        audit("export", target=f"Importação de carteira nº {imp.id}", details=f"{what}; {fmt}; linhas={len(rows)}")
        db.session.commit()
        return spreadsheet_response(fmt, header, rows, name, sheet="Linhas")

    @expose("/exemplo/")
    def sample_view(self):
        """The sample carteira of the demo: a CSV as creditors send it, to try the import."""
        self._admin()
        return Response(SAMPLE_FILE.read_bytes(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=exemplo-carteira.csv"})

