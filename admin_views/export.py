"""Spreadsheet exports: the one place every list's CSV (and a report's Excel file) is written.

- **Formula injection** (OWASP "CSV Injection"): a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return (or their full-width forms) is prefixed with ``'``, so Excel, LibreOffice and Google
  Sheets show it as text instead of running it. Plain numbers (``-12,50``) are left as they are.
- **Excel pt-BR**: ``;`` as the separator (Excel's list separator where ``,`` is the decimal mark) and a
  UTF-8 byte-order mark, so accents open correctly with a double click.
"""

import csv
import io
import re

from flask import Response, stream_with_context
from werkzeug.utils import secure_filename

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PLAIN_NUMBER = re.compile(r"[+-]?\d[\d.,]*\Z")
DELIMITER = ";"
BOM = "\ufeff"


def spreadsheet_safe(value) -> str:
    """The cell's text, neutralised when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def csv_text(titles, rows) -> str:
    """Titles and rows as a CSV document for Excel pt-BR (BOM, ``;``, CRLF), every cell neutralised."""
    return b"".join(csv_chunks(titles, rows)).decode("utf-8")


def csv_response(titles, rows, filename: str) -> Response:
    return Response(csv_text(titles, rows).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={secure_filename(filename)}",
                             "Content-Type": "text/csv; charset=utf-8"})


def xlsx_response(titles, rows, filename: str, sheet: str) -> Response:
    """Titles and rows as an Excel workbook of one sheet, every cell neutralised like the CSV's."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    page = book.create_sheet(sheet)
    page.append(list(titles))
    for row in rows:
        page.append([spreadsheet_safe(c) for c in row])
    out = io.BytesIO()
    book.save(out)
    disposition = f"attachment; filename={secure_filename(filename)}"
    return Response(out.getvalue(), headers={"Content-Disposition": disposition},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def spreadsheet_response(fmt: str, titles, rows, name: str, sheet: str) -> Response:
    """A small report as ``name``.csv or ``name``.xlsx (``fmt`` already checked to be one of them)."""
    if fmt == "csv":
        return csv_response(titles, rows, f"{name}.csv")
    return xlsx_response(titles, rows, f"{name}.xlsx", sheet=sheet)


#: Bytes buffered before a chunk of a streamed CSV is handed to the server.
STREAM_CHUNK = 64 * 1024


def csv_chunks(titles, rows):
    """The CSV document for Excel pt-BR (BOM, ``;``, CRLF, every cell neutralised) as encoded chunks; memory is
    bounded by ``STREAM_CHUNK``.

    The first chunk is the BOM and the titles, handed over before the first row is asked for: a download starts
    at once, however long the database takes to find the rows (a cold cache, a big portfolio)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")

    def taken() -> bytes:
        chunk = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return chunk

    buffer.write(BOM)
    writer.writerow([spreadsheet_safe(t) for t in titles])
    yield taken()
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
        if buffer.tell() >= STREAM_CHUNK:
            yield taken()
    if buffer.tell():
        yield taken()


def export_cells(query, values, batch_loaded=None, batch_size: int = 500):
    """Each row of a (yield_per) query as its list of cells, ``batch_loaded(rows)`` called before each batch.

    This is the whole export without a request: ``write_export`` below (or a background job) can run it into a
    file with the same output as the download.
    """
    batch = []
    for row in query:
        batch.append(row)
        if len(batch) >= batch_size:
            yield from _format_batch(batch, values, batch_loaded)
            batch = []
    if batch:
        yield from _format_batch(batch, values, batch_loaded)


def _format_batch(batch, values, batch_loaded):
    if batch_loaded is not None:
        batch_loaded(batch)
    for row in batch:
        yield values(row)


def write_export(out, titles, rows) -> int:
    """Write a CSV export into a binary file object (a job's output file); returns the bytes written."""
    written = 0
    for chunk in csv_chunks(titles, rows):
        out.write(chunk)
        written += len(chunk)
    return written


def csv_stream_response(titles, rows, filename: str) -> Response:
    """Stream a CSV download: the titles leave at once (before the rows are read), memory stays flat whatever the
    number of rows."""
    return Response(stream_with_context(csv_chunks(titles, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={secure_filename(filename)}",
                             "Content-Type": "text/csv; charset=utf-8"})


def export_to_file(app, endpoint: str, query_string: str, user_id: int, out, *, on_start=None, on_rows=None,
                   every: int = 2000, stats: dict | None = None) -> int:
    """Run a list's CSV export outside a request (a background job): the same rows, scope, search, filters, order
    and cells as the download ``/admin/<endpoint>/export/csv/?<query_string>`` by that user, written into the
    binary file ``out``. Returns the bytes written (``stats["rows"]``: the rows). The caller audits it (the job
    records who asked).

    It runs in an application context of its own (its own database session, closed at the end), so the caller's
    session keeps its objects. ``on_start(view)`` is called once the user's list is known, ``on_rows(n)`` every
    ``every`` rows written (either may raise to stop). A user who no longer exists, is inactive or may not export
    that list raises ``PermissionError``.
    """
    from flask_login import login_user

    from models import User, db

    with app.app_context(), app.test_request_context(f"/admin/{endpoint}/export/csv/", query_string=query_string):
        user = db.session.get(User, user_id)
        if user is None or not user.is_active:
            raise PermissionError(endpoint)
        login_user(user)
        view = next((v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint), None)
        if view is None or not (view.is_accessible() and view.can_export):
            raise PermissionError(endpoint)
        if on_start is not None:
            on_start(view)
        written = 0

        def counted(rows):
            nonlocal written
            try:
                for row in rows:
                    yield row
                    written += 1
                    if on_rows is not None and written % every == 0:
                        on_rows(written)
            finally:
                rows.close()  # its sessions are closed here, in this application context, even when stopped
        size = write_export(out, view.export_titles(), counted(view.export_rows()))
        if stats is not None:
            stats["rows"] = written
        return size
