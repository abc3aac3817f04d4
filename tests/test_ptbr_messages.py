"""Nothing the user reads is in English: a crawl of every page an administrator and a consultant can reach (links
followed from the home page, so new screens are covered), with every form submitted empty and with nonsense, is
checked against the English catalogues of Flask-Admin and WTForms; the pickers' scripts the pages load must
replace every English text of select2 and daterangepicker.
"""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import flask_admin
import pytest
import wtforms
from babel.messages.pofile import read_po

from models import Agency, db
from tests.conftest import CSRF_RE

FLASK_ADMIN = Path(flask_admin.__file__).parent
#: msgids that read the same in Portuguese (or are names), so seeing them proves nothing.
SAME_IN_PORTUGUESE = {"ID", "URL", "IP", "CSV", "OK", "E-mail", "Email", "Status", "Login", "Total", "Menu"}
#: The English texts of the bundled daterangepicker 1.3 and of moment's English calendar (the picker's days).
DATERANGEPICKER_ENGLISH = ["Apply", "Cancel", "From", "To", "Custom Range", "Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"]
DATERANGEPICKER_LOCALE_KEYS = ["applyLabel", "cancelLabel", "fromLabel", "toLabel", "weekLabel", "customRangeLabel",
                               "daysOfWeek", "monthNames"]


def _catalogue(path: Path) -> set[str]:
    """The literal parts of every msgid of an English catalogue (placeholders like %(name)s cut out)."""
    with path.open("rb") as po:
        catalog = read_po(po)
    texts = set()
    for message in catalog:
        for msgid in (message.id if isinstance(message.id, tuple) else (message.id,)):
            for part in re.split(r"%\(\w+\)[sd]|%[sd]|\{\w*\}", msgid or ""):
                part = part.strip(" .:")
                if len(part) >= 2 and re.search(r"[A-Za-z]{2}", part) and part not in SAME_IN_PORTUGUESE:
                    texts.add(part)
    return texts


ENGLISH = (_catalogue(FLASK_ADMIN / "translations" / "en" / "LC_MESSAGES" / "admin.po")
           | _catalogue(Path(wtforms.__file__).parent / "locale" / "en" / "LC_MESSAGES" / "wtforms.po"))
#: Multi-word msgids are looked for inside any text; one-word msgids only as a whole text ("Save", "Yes").
PHRASES = sorted((t for t in ENGLISH if " " in t and len(t) >= 8), key=len, reverse=True)
WORDS = {t for t in ENGLISH if t not in PHRASES}


class _Texts(HTMLParser):
    """Every text a user can read on a page: text nodes (not scripts or styles) and visible attributes."""

    ATTRIBUTES = {"placeholder", "title", "aria-label", "data-placeholder", "alt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
            if tag == "script" and attrs.get("src"):
                self.scripts.append(attrs["src"])
        for name, value in attrs.items():
            if value and (name in self.ATTRIBUTES or (name == "value" and attrs.get("type") in ("submit", "button"))):
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data)


def _readable(html: str) -> tuple[list[str], list[str]]:
    parser = _Texts()
    parser.feed(html)
    texts = []
    for text in parser.texts:
        text = " ".join(text.split())
        if text[:1] in "[{":  # Flask-Admin's filter definitions (operation names) travel as JSON in the page
            try:
                texts.extend(_strings(json.loads(text)))
                continue
            except ValueError:
                pass
        texts.append(text)
    return texts, parser.scripts


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def english_in(html: str) -> list[str]:
    found = []
    for text in _readable(html)[0]:
        if text in WORDS:
            found.append(text)
            continue
        found.extend(phrase for phrase in PHRASES if phrase in text)
    return found


def test_the_checker_knows_the_english_it_looks_for():
    """The catalogues were read: a page with Flask-Admin's and WTForms' English is caught, pt-BR is not."""
    assert english_in("<p>Failed to create record. boom</p><input type=submit value='Save'>") == [
        "Failed to create record", "Save"]
    assert english_in("<span>This field is required.</span>") == ["This field is required"]
    assert english_in('<div id="filter-groups-data">{"Nome": [{"operation": "not equal"}]}</div>') == ["not equal"]
    assert english_in("<p>Salvar</p><p>Este campo é obrigatório.</p><script>var a='Save';</script>") == []


# --- the crawl ------------------------------------------------------------------------------------------------

SKIP = re.compile(r"/export/|/delete/|logout|/ajax/|\.(?:css|js|svg|png|ico)(?:\?|$)")
MAX_PAGES = 250


def _crawl(client) -> dict[str, str]:
    """GET every /admin page reachable by links from the home page; return {url: html}."""
    pages, queue = {}, ["/admin/"]
    while queue and len(pages) < MAX_PAGES:
        url = queue.pop(0)
        if url in pages:
            continue
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.content_type:
            pages[url] = ""
            continue
        pages[url] = response.text
        for href in re.findall(r'href="([^"#]+)', response.text):
            href = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/admin") or SKIP.search(href):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            # One list page per screen and sort is enough: no pagination or page-size walks.
            if re.search(r"[?&](page|page_size|sort|desc)=", target):
                continue
            if target not in pages and target not in queue:
                queue.append(target)
    return {url: html for url, html in pages.items() if html}


NONSENSE = "x\u00a0?"


def _submissions(client, pages: dict[str, str]) -> dict[str, str]:
    """Post each form found (empty, then with nonsense in every text field) and read what comes back, flashes
    included (a redirect is followed)."""
    results = {}
    for url, html in pages.items():
        for form in re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S | re.I):
            action = re.search(r'action="([^"]*)"', form)
            target = urljoin(url, (action.group(1) if action and action.group(1) else url).replace("&amp;", "&"))
            if SKIP.search(target) or "/send/" in target or "/negativate/" in target or "/exclude/" in target:
                continue
            token = CSRF_RE.search(form)
            names = set(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"', form))
            names -= {"csrf_token", "row_version", "nonce", "action", "url"}
            for data in ({}, {name: NONSENSE for name in names}, {name: str(2**70) for name in names}):
                response = client.post(target, data={"csrf_token": token.group(1) if token else "", **data})
                assert response.status_code < 500, (target, data)
                if response.status_code in (301, 302, 303):
                    response = client.get(response.location)
                results[f"POST {target} {sorted(data.values())[:1]}"] = response.text
    return results


@pytest.fixture
def serasa_on(app, world):
    with app.app_context():
        for agency_id in (world.a.id,):
            db.session.get(Agency, agency_id).serasa_enabled = True
        db.session.commit()


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_no_page_form_or_flash_shows_english(app, client, world, login_as, serasa_on, role):
    login_as(getattr(world, role))
    pages = _crawl(client)
    assert len(pages) >= (15 if role == "admin_a" else 8), sorted(pages)
    # The lists with a search and every filter applied (operations and flashes of invalid values).
    extra = {}
    for url in [u for u in pages if re.fullmatch(r"/admin/\w+/", u)]:
        extra[f"{url}?search"] = client.get(url, query_string={"search": " ".join(["a"] * 50)}).text
        extra[f"{url}?flt"] = client.get(url, query_string={f"flt0_{i}": "  " for i in range(12)}).text
    pages |= extra | _submissions(client, pages)
    found = {url: english_in(html) for url, html in pages.items()}
    assert not {url: words for url, words in found.items() if words}


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_every_picker_script_a_page_loads_is_translated(app, client, world, login_as, serasa_on, role):
    """Each page loading select2 or daterangepicker also loads, after them, a script that replaces every English
    text they define (select2's locale keys, daterangepicker's labels and calendar names)."""
    login_as(getattr(world, role))
    select2 = (FLASK_ADMIN / "static" / "vendor" / "select2" / "select2.min.js").read_text()
    english_locale = re.search(r"locales\.en=\{(.*?)\},\w\.extend", select2, flags=re.S).group(1)
    select2_keys = set(re.findall(r"(format\w+):function", english_locale))
    assert {"formatNoMatches", "formatInputTooShort", "formatSearching"} <= select2_keys
    daterangepicker = (FLASK_ADMIN / "static" / "vendor" / "bootstrap-daterangepicker" / "daterangepicker.js")
    for english in ("Apply", "Cancel", "From"):
        assert f"'{english}'" in daterangepicker.read_text()
    checked = 0
    for url, html in _crawl(client).items():
        scripts = _readable(html)[1]
        uses_select2 = any("select2" in s for s in scripts)
        uses_dates = 'data-role="datepicker"' in html or "filter-groups-data" in html
        if not (uses_select2 or uses_dates):
            continue
        loaded = "\n".join(client.get(urlsplit(s).path).get_data(as_text=True)
                           for s in scripts if urlsplit(s).path.startswith("/static/"))
        assert loaded, url
        for key in select2_keys:
            assert re.search(rf"\b{key}\s*:", loaded), (url, key)
        for key in DATERANGEPICKER_LOCALE_KEYS:
            assert re.search(rf"\b{key}\s*:", loaded), (url, key)
        for english in DATERANGEPICKER_ENGLISH:
            assert f"'{english}'" not in loaded, (url, english)
        assert "'DD/MM/YYYY HH:mm'" in loaded and "' até '" in loaded, url
        checked += 1
    assert checked >= 4
