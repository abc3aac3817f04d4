"""Tarefas: the jobs people started (and the schedule's), their progress, per-item results and Cancelar."""

from flask import abort, flash, g, jsonify, redirect, request, send_file, session, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from admin_views.base import PanelSecureForm, audit, parse_pk
from admin_views.formatting import br_datetime
from models import db
from models.agency import Capability
from models.job import JOB_STATE_LABELS, Job, JobItem
from services import exports, jobs
from services.serasa_jobs import INCLUDE, SYNC

#: Per-item results as people read them.
RESULT_LABELS = {"incluida": "Incluída", "recusada": "Recusada", "falhou": "Falhou", "cancelada": "Não enviada",
                 "atualizada": "Atualizada", "sem_mudanca": "Sem mudança"}
ITEMS_PER_POLL = 200


class CancelForm(PanelSecureForm):
    pass


def summary_text(job: Job) -> str:
    """One pt-BR sentence about what the job did so far."""
    s = job.summary or {}
    if s.get("skipped"):
        return s["skipped"]
    if job.kind == INCLUDE and "batch_id" in s:
        return (f"{s.get('incluida', 0)} incluída(s) · {s.get('recusada', 0)} recusada(s) · "
                f"{s.get('falhou', 0)} com falha" + (f" · {s['cancelada']} não enviada(s) (cancelada)"
                                                     if s.get("cancelada") else ""))
    if job.kind == SYNC and s.get("counts"):
        c = s["counts"]
        return (f"Situação consultada no SOA: {c.get('atualizadas', 0)} atualizada(s), {c.get('sem_mudanca', 0)} "
                f"sem mudança, {c.get('falhas', 0)} com falha.")
    if job.kind == exports.EXPORT_KIND and "rows" in s:
        if s.get("cancelled"):
            return f"Exportação cancelada após {s['rows']:,} linha(s); nenhum arquivo foi gerado.".replace(",", ".")
        return f"{s['rows']:,} linha(s) exportada(s) · {s.get('screen', '')}".replace(",", ".")
    if job.kind == "import.check" and "import_id" in s:  # services/portfolio_import.py
        return (f"Conferência da importação nº {s['import_id']}: {s.get('linhas', 0)} linha(s) · "
                f"{s.get('validas', 0)} válida(s) · {s.get('com_aviso', 0)} com aviso · "
                f"{s.get('recusadas', 0)} recusada(s)")
    if job.kind == "import" and "import_id" in s:  # services/portfolio_import.py
        missing = s.get("ausentes_do_arquivo")
        return (f"Importação de carteira nº {s['import_id']}: {s.get('criadas', 0)} criada(s) · "
                f"{s.get('atualizadas', 0)} atualizada(s) · {s.get('sem_alteracao', 0)} sem alteração · "
                f"{s.get('recusadas', 0)} recusada(s)" +
                (f" · {missing} dívida(s) do credor ausente(s) do arquivo (não excluídas)" if missing else "") +
                (f". {job.error}" if job.error else ""))
    return job.error or ""


class JobView(BaseView):
    """Tarefas: a list of recent jobs and a page per job; consultants see only their own (Job.visible_to)."""

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("auth.login", next=request.full_path))

    def _job(self, raw_id) -> Job:
        job_id = parse_pk(raw_id)
        job = db.session.scalar(select(Job).where(Job.visible_to(current_user), Job.id == job_id)) if job_id else None
        if job is None:
            abort(404)
        return job

    @expose("/")
    def index(self):
        recent = db.session.scalars(select(Job).where(Job.visible_to(current_user))
                                    .order_by(Job.id.desc()).limit(50)).all()
        return self.render("admin/jobs/list.html", jobs=recent, label_of=jobs.label_of, br_datetime=br_datetime,
                           summary_text=summary_text)

    @expose("/details/")
    def details_view(self):
        job = self._job(request.args.get("id"))
        batch_id = (job.summary or {}).get("batch_id")
        if job.kind == INCLUDE and not job.is_active and batch_id and current_user.can(Capability.NEGATIVATE) \
                and request.args.get("progress") is None:
            return redirect(url_for("debt.negativate_report_view", id=batch_id))
        items = job.items.filter(JobItem.finished_no.is_not(None)).order_by(None).order_by(JobItem.finished_no) \
            .limit(ITEMS_PER_POLL).all()
        return self.render("admin/jobs/details.html", job=job, items=items, label_of=jobs.label_of,
                           br_datetime=br_datetime, result_labels=RESULT_LABELS, summary_text=summary_text,
                           cancel_form=CancelForm(), state_labels=JOB_STATE_LABELS,
                           export_file=self._export_file_state(job),
                           export_retention_days=exports.retention().days)

    @staticmethod
    def _export_file_state(job: Job) -> str | None:
        """The export's file as this user may see it: "pronto", "expirado", or None (no file, or not theirs to get)."""
        if job.agency_id != current_user.agency_id or not current_user.can(Capability.EXPORT_PERSONAL_DATA):
            return None
        return exports.file_state(job)

    @expose("/download/")
    def download_view(self):
        """The export job's CSV, to who sees the job and may export (else 404, like a job that does not exist)."""
        job = self._job(request.args.get("id"))
        state = self._export_file_state(job)
        if state is None:
            abort(404)
        path = exports.ready_file(job) if state == "pronto" else None
        if path is None:  # expired (maybe deleted by the tick a moment ago)
            flash("O arquivo desta exportação expirou e foi apagado: exporte a lista de novo.", "warning")
            return redirect(url_for(".details_view", id=job.id))
        name = job.summary.get("filename") or path.name
        audit("export.download", target=str(job),
              details=f"{job.summary.get('screen', '')}; arquivo {name}; linhas: {job.summary.get('rows', 0)}")
        db.session.commit()
        response = send_file(path, mimetype="text/csv", as_attachment=True, download_name=name, max_age=0)
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/status/")
    def status_view(self):
        """The job page's live numbers and the per-item results after ``after`` (a small JSON, polled)."""
        job = self._job(request.args.get("id"))
        try:
            after = int(request.args.get("after", -1))
        except ValueError:
            after = -1
        items = job.items.filter(JobItem.finished_no > after).order_by(None).order_by(JobItem.finished_no) \
            .limit(ITEMS_PER_POLL).all()
        db.session.refresh(job)  # read after the items: the counts never lag the results shown
        return jsonify(
            id=job.id, state=job.state, state_label=job.state_label, active=job.is_active, total=job.total,
            done=job.done, failed=job.failed, percent=job.percent, summary=summary_text(job),
            items=[{"seq": i.seq, "no": i.finished_no, "result": i.result,
                    "label": RESULT_LABELS.get(i.result, i.result),
                    "reason": i.reason or "", "contract": (i.data or {}).get("contract", ""),
                    "name": (i.data or {}).get("debtor") or (i.data or {}).get("document", ""), "key": i.key}
                   for i in items])

    @expose("/cancel/", methods=("POST",))
    def cancel_view(self):
        job = self._job(request.form.get("id"))
        if not CancelForm(request.form).validate():
            flash("Sessão expirada: recarregue a página e tente de novo.", "error")
        elif jobs.cancel(job):
            audit("job.cancel", target=str(job), details=job.kind)
            db.session.commit()
            flash("Cancelamento pedido: o que ainda não foi enviado não será enviado; o que está em andamento "
                  "termina e é registrado.", "warning")
        else:
            flash("Esta tarefa já terminou.", "info")
        return redirect(url_for(".details_view", id=job.id, progress=1))


def remember_started() -> None:
    """Note in the session that the user has a job running: pages then look for the navbar notice."""
    session["jobs_running"] = True


def active_jobs_of_user() -> list[Job]:
    """The user's running jobs for the navbar notice; one query only while the session says one may run."""
    if not current_user.is_authenticated or not session.get("jobs_running"):
        return []
    if "active_jobs" not in g:
        g.active_jobs = jobs.user_active_jobs(current_user)
        if not g.active_jobs:
            session.pop("jobs_running", None)
    return g.active_jobs
