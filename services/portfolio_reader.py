"""Reading a creditor's carteira: CSV (``;`` ``,`` or tab; UTF-8 or Windows-1252, with or without BOM) or XLSX.

Rows are streamed (``iter_rows``): the file is never loaded into memory at once. Each row comes with the file's
line number (the header is line 1), which every message to the user quotes.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Fields of a carteira line and how creditors title their columns (compared without accents, case, spaces or
#: punctuation: "E-mail", "EMAIL" and "e mail" are all "email").
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("Nome", ("nome", "nomedevedor", "nomedocliente", "nomecliente", "devedor", "cliente", "razaosocial",
                      "nomerazaosocial", "nomecompleto", "sacado")),
    "document": ("CPF/CNPJ", ("cpfcnpj", "cnpjcpf", "cpf", "cnpj", "documento", "doc", "cpfoucnpj", "nrdocumento",
                              "numerodocumento", "documentodevedor", "cpfcnpjdevedor")),
    "contract": ("Contrato", ("contrato", "numerocontrato", "numerodocontrato", "ncontrato", "nocontrato",
                              "nrcontrato", "numcontrato", "contratonumero", "titulo", "numerotitulo", "nossonumero")),
    "amount": ("Valor", ("valor", "valordivida", "valordadivida", "valororiginal", "valoremaberto", "saldo",
                         "saldodevedor", "valortotal", "valordebito", "valorr", "debito")),
    "due_date": ("Vencimento", ("vencimento", "datavencimento", "datadevencimento", "dtvencimento", "dtvenc", "vcto",
                                "venc", "datavenc")),
    "street": ("Endereço / Logradouro", ("endereco", "logradouro", "rua", "enderecologradouro", "enderecoresidencial")),
    "number": ("Número", ("numero", "num", "nro", "n", "no", "numeroendereco", "numeroresidencia")),
    "complement": ("Complemento", ("complemento", "compl")),
    "neighbourhood": ("Bairro", ("bairro",)),
    "city": ("Cidade", ("cidade", "municipio")),
    "uf": ("UF", ("uf", "estado")),
    "cep": ("CEP", ("cep",)),
    "email": ("E-mail", ("email", "correioeletronico", "emaildevedor")),
    "phone": ("Telefone", ("telefone", "fone", "celular", "tel", "telefonecelular", "whatsapp", "contato")),
    "birth_date": ("Nascimento", ("nascimento", "datanascimento", "datadenascimento", "dtnascimento", "dtnasc")),
    "consultant": ("Consultor", ("consultor", "consultora", "responsavel", "emailconsultor", "emaildoconsultor")),
}
#: Without these the line cannot become a debt.
REQUIRED = ("name", "document", "contract", "amount", "due_date")


class UnreadableFile(ValueError):
    """The file cannot be read as a carteira; the message is for the user (pt-BR)."""


def normalise_header(text) -> str:
    """'Endereço / Logradouro ' → 'enderecologradouro'; 'E-mail' → 'email'."""
    text = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in text if ch.isalnum())


def guess_mapping(headers: list[str], remembered: dict[str, str] | None = None) -> dict[str, int]:
    """field → column index: the creditor's remembered headers first, then the usual Portuguese titles."""
    normalised = [normalise_header(h) for h in headers]
    mapping: dict[str, int] = {}
    taken: set[int] = set()
    for field, header in (remembered or {}).items():
        if field in FIELDS and header in normalised and normalised.index(header) not in taken:
            mapping[field] = normalised.index(header)
            taken.add(mapping[field])
    for field, (_, synonyms) in FIELDS.items():
        if field in mapping:
            continue
        for index, header in enumerate(normalised):
            if index not in taken and header in synonyms:
                mapping[field] = index
                taken.add(index)
                break
    return mapping


@dataclass
class Sheet:
    """An opened carteira: its header cells and a way to stream (line number, cells) of the data lines."""

    path: Path
    kind: str  # "csv" | "xlsx"
    headers: list[str]
    encoding: str | None = None
    delimiter: str | None = None

    def rows(self) -> Iterator[tuple[int, list]]:
        if self.kind == "xlsx":
            yield from _xlsx_rows(self.path)
        else:
            yield from _csv_rows(self.path, self.encoding, self.delimiter)

    @property
    def description(self) -> str:
        if self.kind == "xlsx":
            return "planilha Excel (.xlsx)"
        names = {";": "ponto e vírgula", ",": "vírgula", "\t": "tabulação"}
        encoding = {"utf-8-sig": "UTF-8 com BOM", "utf-8": "UTF-8", "cp1252": "Windows-1252"}[self.encoding]
        return f"CSV separado por {names[self.delimiter]}, {encoding}"


XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls


def open_sheet(path: Path) -> Sheet:
    """Open a stored upload; raise UnreadableFile with a pt-BR reason when it is not a readable carteira."""
    path = Path(path)
    with open(path, "rb") as handle:
        start = handle.read(1 << 16)
    head = start[:4]
    if not start.strip(codecs.BOM_UTF8 + b" \r\n\t;,"):
        raise UnreadableFile("O arquivo está vazio.")
    if head == OLE_MAGIC:
        raise UnreadableFile("Planilhas .xls (Excel 97-2003) não são lidas: salve como .xlsx ou CSV e envie de novo.")
    if head == XLSX_MAGIC:
        sheet = Sheet(path, "xlsx", [])
        try:
            first = next(_xlsx_rows(path, header=True), None)
        except Exception as exc:  # a damaged zip or workbook: openpyxl raises many kinds
            raise UnreadableFile("O arquivo parece uma planilha Excel, mas não pôde ser lido (arquivo danificado?).") \
                from exc
        if first is None:
            raise UnreadableFile("A planilha está vazia.")
        sheet.headers = [_text(c) for c in first[1]]
        return _checked(sheet)
    encoding = detect_encoding(path)
    delimiter = detect_delimiter(path, encoding)
    sheet = Sheet(path, "csv", [], encoding, delimiter)
    first = next(_csv_rows(path, encoding, delimiter, header=True), None)
    if first is None:
        raise UnreadableFile("O arquivo está vazio.")
    sheet.headers = [_text(c) for c in first[1]]
    return _checked(sheet)


def _checked(sheet: Sheet) -> Sheet:
    while sheet.headers and not sheet.headers[-1]:
        sheet.headers.pop()
    if not any(sheet.headers):
        raise UnreadableFile("A primeira linha deve ter os títulos das colunas (Nome, CPF/CNPJ, Contrato, Valor, "
                             "Vencimento…).")
    return sheet


def detect_encoding(path: Path) -> str:
    """UTF-8 with BOM, UTF-8, or Windows-1252 (what Excel pt-BR saves as "CSV"): decided over the whole file,
    streamed, so a single accented byte on line 90.000 is not read as garbage."""
    with open(path, "rb") as handle:
        if handle.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def detect_delimiter(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(64 * 1024)
    lines = [line for line in sample.splitlines() if line.strip()][:20]
    if len(sample) == 64 * 1024 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=";,\t").delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in (";", "\t", ",")}
        best = max(counts, key=counts.get)
        if not counts[best]:
            raise UnreadableFile("Não foi possível identificar o separador das colunas: use ponto e vírgula, "
                                 "vírgula ou tabulação.") from None
        return best


def _csv_rows(path: Path, encoding: str, delimiter: str, header: bool = False) -> Iterator[tuple[int, list]]:
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        start = 1
        first = True
        try:
            for cells in reader:
                line, start = start, reader.line_num + 1
                if first:
                    first = False
                    if header:
                        yield line, cells
                        return
                    continue
                if any(c.strip() for c in cells):
                    yield line, cells
        except csv.Error as exc:
            raise UnreadableFile(f"Linha {start}: o arquivo não pôde ser lido como CSV ({exc}).") from exc
    if header:
        return


def _xlsx_rows(path: Path, header: bool = False) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        first = True
        for row in sheet.iter_rows():
            cells = [c.value for c in row]
            line = next((c.row for c in row if getattr(c, "row", None)), None)
            if first:
                if not any(v not in (None, "") for v in cells):
                    continue  # blank rows above the header
                first = False
                if header:
                    yield line, cells
                    return
                continue
            if any(v not in (None, "") and str(v).strip() for v in cells):
                yield line, cells
    finally:
        book.close()


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def sample_csv(rows: list[list[str]], delimiter: str = ";", encoding: str = "utf-8", bom: bool = False) -> bytes:
    """A CSV document as bytes (tests, demo file and bench build their files with it)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (codecs.BOM_UTF8 if bom else b"") + data
