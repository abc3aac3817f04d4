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

from flask import Response
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
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(t) for t in titles])
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return buffer.getvalue()


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
