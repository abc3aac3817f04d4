"""What every page repeats and no request changes, computed once: fixed URLs, translations, the menu's HTML.

Nothing here caches a response or anything a user's data shapes: the menu is cached by what decides it (which
items the user may open and see, which one is active), recomputed on every request; URLs by the request's
script root; translations per render. ``app_cache`` also holds SQL statements built from their inputs (the clock's
count per user, role and day), never a result.
"""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_admin import babel
from flask_babel import get_locale
from markupsafe import Markup

#: Bound of each cache (keys are few: endpoints × script roots, menus × roles × active screens).
MAX_ENTRIES = 512


def app_cache(name: str) -> dict:
    """The app's cache ``name`` (a dict), emptied when it grows past ``MAX_ENTRIES``."""
    caches = current_app.extensions.setdefault("panel_page_cache", {})
    cache = caches.setdefault(name, {})
    if len(cache) > MAX_ENTRIES:
        cache.clear()
    return cache


def fixed_url(endpoint: str, **values) -> str:
    """``url_for(endpoint, **values)`` for a URL that depends on nothing but them (static files, fixed screens),
    routed once per script root."""
    key = (request.script_root, endpoint, tuple(sorted(values.items())))
    cache = app_cache("urls")
    url = cache.get(key)
    if url is None:
        url = cache[key] = url_for(endpoint, **values)
    return url


def page_gettext():
    """Flask-Admin's ``_gettext`` for one render: the catalogue looked up once, each text translated once."""
    translations = None
    done: dict[str, str] = {}

    def gettext(string, **variables):
        nonlocal translations
        translated = done.get(string)
        if translated is None:
            if translations is None:
                translations = babel.domain.get_translations()
            translated = done[string] = translations.ugettext(string)
        return translated % variables if variables else translated
    return gettext


def _menu_key(items, view) -> tuple:
    key = []
    for item in items:
        if item.is_category():
            children = item.get_children()
            key.append(("c", item.is_active(view), _menu_key(children, view)))
        else:
            shown = item.is_accessible() and item.is_visible()
            key.append(("i", shown, shown and item.is_active(view)))
    return tuple(key)


def cached_menu(layout, admin_view, links: bool = False) -> Markup:
    """Flask-Admin's menu (``layout.menu()``, or ``layout.menu_links()``), rendered once per set of items shown and
    active item.

    Which items the user may open and see is asked on every request (role, agency settings); only their HTML,
    which depends on nothing else, is reused."""
    admin = admin_view.admin
    items = admin.menu_links() if links else admin.menu()
    key = (links, request.script_root, str(get_locale()), id(admin), _menu_key(items, admin_view))
    cache = app_cache("menus")
    html = cache.get(key)
    if html is None:
        html = cache[key] = Markup(layout.menu_links() if links else layout.menu())
    return html
