"""Files → rows of cells. xlsx/xls through python-calamine (openpyxl/xlrd as fallbacks), CSV with the encoding
sniffed (UTF-8 with or without BOM, else GB18030, the superset of GBK) and the delimiter guessed.

The kind of file is taken from its first bytes, not from its name: a CSV renamed ``.xlsx`` is still read.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class ReadError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Table:
    """The cells of the first sheet, row by row. A CSV table keeps its text and reads it into rows only when asked:
    the columnar path (``importers.columnar``) reads the body of a large clean export column by column instead."""

    def __init__(
        self,
        rows: list[list[Any]] | None = None,
        *,
        file_kind: str,
        encoding: str = "",
        reader: str = "",
        text: str | None = None,
        delimiter: str = ",",
    ) -> None:
        self._rows = rows
        self._head: list[list[Any]] = []  # the first rows of a CSV file read so far
        self._head_is_all = False  # whether they are all its rows
        self.file_kind = file_kind  # csv / xlsx / xls
        self.encoding = encoding  # CSV only
        self.reader = reader
        self.text = text  # CSV only
        self.delimiter = delimiter

    @property
    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            self._rows = list(self._csv_rows(self.text or ""))
        return self._rows

    def head(self, count: int) -> list[list[Any]]:
        """The first ``count`` rows, without reading the rest of a CSV file (the rows read are kept for the next
        call: the header search, the column mapping and the columnar path all ask)."""
        if self._rows is not None or self.text is None:
            return self.rows[:count]
        if count <= len(self._head) or self._head_is_all:
            return self._head[:count]
        text = self.text
        size = 65_536
        while True:  # rows from a prefix of the text; every row but the prefix's last is whole
            rows = list(itertools.islice(self._csv_rows(text[:size]), count + 1))
            if len(rows) > count or size >= len(text):
                self._head, self._head_is_all = rows[:count], len(rows) <= count
                return self._head[:count]
            size *= 4

    def _csv_rows(self, text: str) -> Iterator[list[str]]:
        try:
            yield from csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        except csv.Error as error:
            raise ReadError(_("The CSV file cannot be read: %(error)s") % {"error": error}) from None


def file_kind(data: bytes, filename: str = "") -> str:
    if data.startswith(ZIP_MAGIC):
        return "xlsx"
    if data.startswith(OLE_MAGIC):
        return "xls"
    name = filename.lower()
    if name.endswith((".xlsx", ".xls")):
        raise ReadError(_("The file is named like an Excel workbook but is not one: export it again."))
    return "csv"


def read_table(data: bytes, filename: str = "") -> Table:
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(_("The file is larger than 50 MB."))
    if not data.strip():
        raise ReadError(_("The file is empty."))
    kind = file_kind(data, filename)
    if kind == "csv":
        return read_csv(data)
    return read_workbook(data, kind)


def decode_csv(data: bytes) -> tuple[str, str]:
    """Text and encoding: a UTF-8 BOM wins; else strict UTF-8; else GB18030 (covers GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise ReadError(_("The file's text encoding is not UTF-8 or GBK: save it as CSV (UTF-8) again.")) from None


def read_csv(data: bytes) -> Table:
    try:
        text, encoding = decode_csv(data)
    except UnicodeDecodeError:
        raise ReadError(_("The file's text encoding is not UTF-8 or GBK: save it as CSV (UTF-8) again.")) from None
    sample = text[:4096]
    first_lines = sample.splitlines()[:10]
    counts = {candidate: sum(line.count(candidate) for line in first_lines) for candidate in (",", "\t", ";")}
    # The separator used most in the first lines (a "9,876" in a tab-separated file does not win).
    delimiter = max((",", "\t", ";"), key=lambda candidate: counts[candidate])
    if counts[delimiter] == 0:
        delimiter = ","
    return Table(file_kind="csv", encoding=encoding, reader="csv", text=text, delimiter=delimiter)


def read_workbook(data: bytes, kind: str) -> Table:
    """The first sheet's cells. calamine first (fast, both formats); openpyxl/xlrd if it cannot read the file."""
    try:
        return Table(_calamine_rows(data), file_kind=kind, reader="calamine")
    except Exception as error:  # noqa: BLE001 - any calamine failure: try the pure-Python reader before giving up
        logger.info(
            "calamine could not read the %s workbook (%s): trying the fallback reader", kind, type(error).__name__
        )
    try:
        rows = _openpyxl_rows(data) if kind == "xlsx" else _xlrd_rows(data)
    except Exception:  # noqa: BLE001 - a broken workbook: one clear message
        raise ReadError(_("The Excel file cannot be opened: export it from the platform again.")) from None
    return Table(rows, file_kind=kind, reader="openpyxl" if kind == "xlsx" else "xlrd")


def _calamine_rows(data: bytes) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
        return rows if type(rows) is list and all(type(row) is list for row in rows) else [list(row) for row in rows]
    finally:
        workbook.close()


def _openpyxl_rows(data: bytes) -> list[list[Any]]:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _xlrd_rows(data: bytes) -> list[list[Any]]:
    import xlrd

    book = xlrd.open_workbook(file_contents=data)
    sheet = book.sheet_by_index(0)
    rows = []
    for index in range(sheet.nrows):
        row = []
        for cell in sheet.row(index):
            if cell.ctype == xlrd.XL_CELL_DATE:
                row.append(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
            elif cell.ctype == xlrd.XL_CELL_EMPTY:
                row.append("")
            else:
                row.append(cell.value)
        rows.append(row)
    return rows
