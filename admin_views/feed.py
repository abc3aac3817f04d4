"""The public side of the calendar feed: GET /calendario/<token>.ics (no session, read-only, rate-limited)."""

from flask import Blueprint, Response, current_app

from admin_views.security import client_ip
from services import feed as feeds

bp = Blueprint("calendar_feed", __name__)

NOT_FOUND = "Calendário não encontrado: o endereço foi revogado ou está incorreto."
TOO_MANY = "Muitas requisições a este calendário. Tente novamente em alguns minutos."


@bp.route("/calendario/<token>.ics")
def ics(token):
    feed = feeds.find_feed(token)
    if feed is None:
        return Response(NOT_FOUND, status=404, mimetype="text/plain")
    body = feeds.render_feed(feed)
    feeds.touch(feed)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="reunioes.ics"'
    # Personal data: calendar apps poll again; nobody in between keeps a copy.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.errorhandler(429)
def too_many(error):
    return Response(TOO_MANY, status=429, mimetype="text/plain")


def init_feed(app) -> None:
    """Register the feed and limit it per client IP (FEED_RATE_LIMIT, Flask-Limiter syntax; empty = off)."""
    app.config.setdefault("FEED_RATE_LIMIT", "60 per minute")
    app.register_blueprint(bp)
    limiter = app.extensions["panel_limiter"]
    view = app.view_functions["calendar_feed.ics"]
    app.view_functions["calendar_feed.ics"] = limiter.limit(
        lambda: current_app.config.get("FEED_RATE_LIMIT") or "1 per second", key_func=client_ip,
        exempt_when=lambda: not current_app.config.get("FEED_RATE_LIMIT"), error_message=TOO_MANY)(view)
