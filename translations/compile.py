"""Compile the .po catalogues in this folder to .mo (run by the Makefile before the app starts)."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

for po_path in Path(__file__).parent.glob("*/LC_MESSAGES/*.po"):
    mo_path = po_path.with_suffix(".mo")
    with po_path.open("rb") as po:
        catalog = read_po(po)
    with mo_path.open("wb") as mo:
        write_mo(mo, catalog)
