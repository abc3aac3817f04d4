"""The admin panel: Admin, its screens and menus, login, and the today's-meetings clock."""

import os

from flask import g
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from sqlalchemy import func, select

from admin_views.audit import AuditLogView, SoaCallView
from admin_views.auth import LogoutForm, login_manager
from admin_views.auth import bp as auth_bp
from admin_views.calendar import CalendarView
from admin_views.creditors import CreditorView
from admin_views.dashboard import DashboardView
from admin_views.debtors import DebtorView
from admin_views.debts import DebtView
from admin_views.errors import register_error_pages
from admin_views.formatting import br_datetime
from admin_views.jobs import JobView, active_jobs_of_user
from admin_views.meetings import MeetingView, meetings_enabled
from admin_views.negativations import NegativationView
from admin_views.negotiations import FinanceNegotiationView, NegotiationView
from admin_views.page_cache import app_cache, cached_menu, fixed_url
from admin_views.portfolio_import import PortfolioImportView
from admin_views.profile import ProfileView
from admin_views.serasa_status import serasa_integration_visible
from admin_views.users import UserView
from models import AuditLog, Creditor, Debt, Debtor, Meeting, Negativation, Negotiation, SoaCall, User, db
from models.agency import Capability
from models.meeting import todays_meetings_where
from models.read_only import end_read_only
from models.timeutil import local_today

USER_MENU = "Usuário"
#: Our pt_BR additions to Flask-Admin's catalogue (compiled from translations/*.po).
TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "translations")



def _clock_statement(user):
    """The clock's ``SELECT count(*)`` for ``user`` today: built once per user, role and day (every page runs it),
    from what decides it, with the meetings' one scope (``Meeting.visible_to``)."""
    agency = user.agency
    day = local_today(agency.timezone)
    key = (agency.id, agency.timezone, day, user.id, user.role)
    statements = app_cache("clock")
    statement = statements.get(key)
    if statement is None:
        where = todays_meetings_where(agency.id, agency.timezone, day=day)
        statement = statements[key] = select(func.count()).select_from(Meeting).where(*where,
                                                                                      Meeting.visible_to(user))
    return statement


def todays_meetings_count() -> int:
    """Count the user's meetings today in the agency's zone: one indexed query, at most once per request.

    The clock shows the count on every page; its dropdown loads the list on click (MeetingView.today_view).
    """
    if "todays_meetings_count" not in g:
        count = 0
        if current_user.is_authenticated and meetings_enabled():
            count = db.session.scalar(_clock_statement(current_user._get_current_object()))
        g.todays_meetings_count = count
    return g.todays_meetings_count


def init_admin(app) -> Admin:
    """Build the Admin with every screen, the login blueprint and the clock."""
    login_manager.init_app(app)
    app.register_blueprint(auth_bp)
    register_error_pages(app)

    admin = Admin(app, name="Painel de Cobrança", translations_path=TRANSLATIONS,
                  theme=Bootstrap4Theme(base_template="admin/panel_base.html", fluid=True),
                  index_view=DashboardView(name="Início", url="/admin", menu_icon_type="fa",
                                           menu_icon_value="fa-home"))
    admin.add_view(MeetingView(Meeting, name="Reuniões", endpoint="meeting", menu_icon_type="fa",
                               menu_icon_value="fa-calendar"))
    admin.add_view(CalendarView(name="Calendário de reuniões", endpoint="meeting_calendar",
                                url="/admin/meeting_calendar"))
    for model, view, name in ((Creditor, CreditorView, "Credores"), (Debtor, DebtorView, "Devedores"),
                              (Debt, DebtView, "Dívidas"), (Negotiation, NegotiationView, "Negociações")):
        admin.add_view(view(model, name=name, category="Cadastros"))
    admin.add_view(PortfolioImportView(name="Importar carteira", endpoint="portfolio_import", category="Cadastros",
                                       url="/admin/importar-carteira"))
    admin.add_view(FinanceNegotiationView(Negotiation, name="Negociações", category="Financeiro",
                                          endpoint="finance_negotiation"))
    admin.add_view(NegativationView(Negativation, name="Negativação Serasa", category="Financeiro",
                                    endpoint="negativation"))
    admin.add_view(AuditLogView(AuditLog, name="Ações dos usuários", endpoint="audit", category="Auditoria"))
    admin.add_view(SoaCallView(SoaCall, name="Chamadas ao SOA", endpoint="soa_call", category="Auditoria"))
    admin.add_view(JobView(name="Tarefas", endpoint="jobs", url="/admin/jobs", menu_icon_type="fa",
                           menu_icon_value="fa-tasks"))
    admin.add_view(ProfileView(name="Perfil", endpoint="profile", category=USER_MENU))
    admin.add_view(UserView(User, name="Usuários", category=USER_MENU))
    admin.add_link(MenuLink(name="Sair", endpoint="auth.logout", category=USER_MENU))

    app.teardown_request(end_read_only)

    @app.context_processor
    def panel_context():
        return {"Capability": Capability, "todays_meetings_count": todays_meetings_count, "br_datetime": br_datetime,
                "serasa_visible": serasa_integration_visible, "active_jobs": active_jobs_of_user,
                "logout_csrf_token": lambda: LogoutForm().csrf_token.current_token,
                "fixed_url": fixed_url, "cached_menu": cached_menu}

    return admin
