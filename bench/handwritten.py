"""The floor: each list's first page written by hand in Flask + Jinja (bench only).

Same 20 rows as the panel's first page (the agency's, in the screen's default order, related rows joined), the
same columns as plain text in a plain HTML table: no login, no menu, no filters, no pager, no CSRF.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template_string
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from bench.stock import SCREENS
from models import db

PAGE = """<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1><table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr>{% for c in columns %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></body></html>"""


def create_handwritten_app(database_url: str, agency_id: int) -> Flask:
    app = Flask("handwritten_bench", root_path=str(Path(__file__).resolve().parent))
    app.config.update(SQLALCHEMY_DATABASE_URI=database_url)
    db.init_app(app)

    def page(screen: str):
        model, view = SCREENS[screen]
        columns = [c for c in view.column_list if c != "serasa"]
        column, desc = view.column_default_sort
        order = getattr(model, column)
        query = select(model).where(model.agency_id == agency_id).order_by(order.desc() if desc else order).limit(20)
        for relation in getattr(view, "column_select_related_list", ()) or ():
            query = query.options(joinedload(relation))
        rows = [{c: getattr(obj, c) for c in columns} for obj in db.session.scalars(query).unique()]
        return render_template_string(PAGE, title=screen, columns=columns, rows=rows)

    for screen in SCREENS:
        app.add_url_rule(f"/hand/{screen}/", f"hand_{screen}", lambda screen=screen: page(screen))
    return app
