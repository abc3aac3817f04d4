"""The baseline: stock ``flask_admin.contrib.sqla.ModelView`` screens over the same models (bench only).

Each stock view shows the same columns, sorts by the same default column and offers the same search and
filters as the panel's screen, and keeps every other library default: no scoping, no select-related list
(Flask-Admin's own ``column_auto_select_related`` still applies), the ``count(*)`` pager, no formatters.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_babel import Babel

from admin_views.debtors import DebtorView
from admin_views.debts import DebtView
from admin_views.meetings import MeetingView
from admin_views.negativations import NegativationView
from admin_views.negotiations import NegotiationView
from models import Debt, Debtor, Meeting, Negativation, Negotiation, db

#: endpoint → (model, the panel's view class whose list settings are copied).
SCREENS = {
    "meeting": (Meeting, MeetingView),
    "debt": (Debt, DebtView),
    "debtor": (Debtor, DebtorView),
    "negotiation": (Negotiation, NegotiationView),
    "negativation": (Negativation, NegativationView),
}
COPIED = ("column_list", "column_default_sort", "column_searchable_list", "column_filters")


def stock_view(model, panel_view, endpoint: str) -> ModelView:
    """Build a stock ModelView with the panel screen's columns, sort, search and filters."""
    attrs = {name: getattr(panel_view, name) for name in COPIED}
    cls = type(f"Stock{model.__name__}View", (ModelView,), attrs)
    return cls(model, db, endpoint=f"stock_{endpoint}", url=f"/stock/{endpoint}")


def create_stock_app(database_url: str) -> Flask:
    """Return a bare Flask app with one Admin holding the stock views (no login: the library's defaults)."""
    # Rooted in bench/ (no templates there): the library's own templates, not the panel's overrides.
    app = Flask("stock_bench", root_path=str(Path(__file__).resolve().parent))
    app.config.update(SQLALCHEMY_DATABASE_URI=database_url, SECRET_KEY="bench-only",
                      BABEL_DEFAULT_LOCALE="pt_BR", FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION=True)
    db.init_app(app)
    Babel(app)
    admin = Admin(app, name="Stock", url="/stock")
    for endpoint, (model, panel_view) in SCREENS.items():
        admin.add_view(stock_view(model, panel_view, endpoint))
    return app
