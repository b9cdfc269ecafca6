"""Reading an agency's file as rows of text: CSV, Excel (.xlsx), JSON/NDJSON and Parquet.

What a file is comes from its bytes (a ZIP container for .xlsx, ``PAR1`` for Parquet, ``[``
or ``{`` for JSON, otherwise text for CSV); the file name's extension and the mapping's
``format:`` must agree with them, so a mislabelled file is refused rather than misread. Each
format has one reader class that declares what it accepts. Rows stream as dicts of strings
with their number (1 = the first row after the header), whatever the format: dates become
ISO text, whole numbers lose their ``.0``, lists are joined with ``;``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

import pyarrow.parquet as pq

MB = 1024 * 1024
#: A workbook may expand to at most this many times the upload limit (zip bombs).
MAX_EXPANSION = 20
#: Joins the items of a list held in one JSON value or Parquet cell; map them with split: ";".
LIST_SEPARATOR = ";"
_DELIMITERS = (",", ";", "\t")


class FileRejected(ValueError):
    """The file cannot be read as a table; ``row`` (0: the file as a whole) says where."""

    def __init__(self, problem: str, row: int = 0, column: str = "", sheet: str | None = None):
        where = f"row {row}, column {column}: " if row and column else f"row {row}: " if row else ""
        super().__init__(where + problem)
        self.problem = problem
        self.row = row
        self.column = column
        self.sheet = sheet


@dataclass(frozen=True)
class Row:
    """One data row: its number (1 = first row after the header) and its cells as text."""

    number: int
    values: dict[str, str]


@dataclass
class Table:
    """A file opened for reading: its format, column names and rows (read once, lazily)."""

    format: str
    columns: list[str]
    rows: Iterator[Row]
    sheet: str | None = None
    #: How many data rows there are, when known before reading them (for progress bars).
    row_count: int | None = None


def text_of(value: Any) -> str:
    """One cell as text: ISO dates, whole numbers without ``.0``, lists joined with ``;``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(text_of(v) for v in value if v is not None)
    return str(value)


def _header(names: Iterable[Any], sheet: str | None = None) -> list[str]:
    """Column names, stripped; a repeated name is refused because its cells would collide."""
    columns = [text_of(n).strip() for n in names]
    seen: set[str] = set()
    for name in columns:
        if name and name in seen:
            raise FileRejected(f"the header names column {name!r} twice", sheet=sheet)
        seen.add(name)
    if not any(columns):
        raise FileRejected("the first row should name the columns, but it is empty", sheet=sheet)
    return columns


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejected(
            f"the file is not UTF-8 text (byte {error.start}); save it as UTF-8 (CSV UTF-8)"
        ) from None


# --- the readers ------------------------------------------------------------------------------


class TableReader:
    """What one format accepts, and how to read it."""

    format: ClassVar[str]
    label: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        raise NotImplementedError

    def read(self, data: bytes, *, sheet: str | None, records: str | None, max_bytes: int) -> Table:
        raise NotImplementedError


class CsvReader(TableReader):
    """Comma, semicolon or tab separated text in UTF-8 (with or without a byte order mark)."""

    format = "csv"
    label = "CSV"
    extensions = (".csv", ".tsv", ".txt")

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        return not JsonReader.recognises(head)

    @staticmethod
    def delimiter(first_line: str) -> str:
        """The separator the header uses most: comma, semicolon or tab (comma when none)."""
        counts = {d: len(next(csv.reader([first_line], delimiter=d))) for d in _DELIMITERS}
        best = max(_DELIMITERS, key=lambda d: counts[d])
        return best if counts[best] > 1 else ","

    def read(self, data: bytes, *, sheet: str | None, records: str | None, max_bytes: int) -> Table:
        text = _decode(data)
        if "\x00" in text:
            raise FileRejected("the file holds NUL characters, so it is not a text file")
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=self.delimiter(text[:65536].split("\n", 1)[0])
        )
        try:
            columns = _header(next(reader, []))
        except csv.Error as error:
            raise FileRejected(f"the header cannot be read as CSV: {error}") from None
        return Table(self.format, columns, self._rows(reader, columns))

    @staticmethod
    def _rows(reader: Iterator[list[str]], columns: list[str]) -> Iterator[Row]:
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise FileRejected(f"cannot be read as CSV: {error}", row=number + 1) from None
            number += 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                raise FileRejected(
                    f"has {len(cells)} cells but the header names {len(columns)} columns",
                    row=number,
                )
            yield Row(
                number, {name: cell for name, cell in zip(columns, cells, strict=False) if name}
            )


class ExcelReader(TableReader):
    """An Excel workbook (.xlsx): one sheet, the first row naming the columns."""

    format = "excel"
    label = "Excel workbook"
    extensions = (".xlsx", ".xlsm")

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        return head.startswith(b"PK\x03\x04")

    def read(self, data: bytes, *, sheet: str | None, records: str | None, max_bytes: int) -> Table:
        import openpyxl

        self._check_container(data, max_bytes)
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a broken workbook
            raise FileRejected(f"the workbook cannot be opened: {error}") from None
        if sheet is None:
            chosen = book.worksheets[0]
        elif sheet in book.sheetnames:
            chosen = book[sheet]
        else:
            raise FileRejected(
                f"the workbook has no sheet {sheet!r}; it has {', '.join(book.sheetnames)}"
            )
        rows = chosen.iter_rows(values_only=True)
        columns = _header(next(rows, ()), chosen.title)
        count = max(0, (chosen.max_row or 1) - 1) if chosen.max_row else None
        return Table(self.format, columns, self._rows(rows, columns), chosen.title, count)

    @staticmethod
    def _check_container(data: bytes, max_bytes: int) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
                expanded = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile:
            raise FileRejected("the file starts like a workbook (ZIP) but is damaged") from None
        if "xl/workbook.xml" not in names:
            raise FileRejected("the file is a ZIP archive but not an Excel workbook (.xlsx)")
        if expanded > MAX_EXPANSION * max_bytes:
            raise FileRejected(f"the workbook expands to {expanded // MB} MB, more than allowed")

    @staticmethod
    def _rows(rows: Iterator[tuple[Any, ...]], columns: list[str]) -> Iterator[Row]:
        for number, cells in enumerate(rows, start=1):
            values = [text_of(c) for c in cells]
            if not any(v.strip() for v in values):
                continue
            yield Row(number, {name: v for name, v in zip(columns, values, strict=False) if name})


class JsonReader(TableReader):
    """A JSON list of objects (or the list under a key), or NDJSON: one object per line."""

    format = "json"
    label = "JSON"
    extensions = (".json", ".ndjson", ".jsonl")

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")

    def read(self, data: bytes, *, sheet: str | None, records: str | None, max_bytes: int) -> Table:
        text = _decode(data)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            if error.msg != "Extra data" or not text.lstrip().startswith("{"):
                raise FileRejected(f"not valid JSON at line {error.lineno}: {error.msg}") from None
            objects = self._ndjson(text)
        else:
            objects = self._listed(document, records)
        rows = [Row(n, self._flat(obj, n)) for n, obj in enumerate(objects, start=1)]
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row.values))
        return Table(self.format, list(columns), iter(rows), row_count=len(rows))

    @staticmethod
    def _ndjson(text: str) -> list[Any]:
        objects = []
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise FileRejected(f"line {line_number} is not valid JSON: {error.msg}") from None
        return objects

    @staticmethod
    def _listed(document: Any, records: str | None) -> list[Any]:
        if isinstance(document, list):
            if records:
                raise FileRejected(f"the mapping names records: {records} but the file is a list")
            return document
        if not isinstance(document, dict):
            raise FileRejected("expected a list of objects, or an object holding one")
        key = records or ("records" if "records" in document else None)
        if key is None:
            lists = [k for k, v in document.items() if isinstance(v, list)]
            hint = f" (lists here: {', '.join(lists)})" if lists else ""
            raise FileRejected(
                f"the file is an object: name the key of its rows with records:{hint}"
            )
        if not isinstance(document.get(key), list):
            raise FileRejected(f"expected a list of objects under {key!r}")
        return list(document[key])

    def _flat(self, obj: Any, number: int) -> dict[str, str]:
        if not isinstance(obj, dict):
            raise FileRejected(f"expected an object, got {type(obj).__name__}", row=number)
        flat: dict[str, str] = {}
        self._flatten(obj, "", flat, number)
        return flat

    def _flatten(
        self, obj: Mapping[str, Any], prefix: str, out: dict[str, str], number: int
    ) -> None:
        """Nested objects become dotted columns: {"home": {"postcode": …}} -> home.postcode."""
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                self._flatten(value, f"{name}.", out, number)
            elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
                raise FileRejected("a list of objects cannot be mapped; flatten it", number, name)
            else:
                out[name] = text_of(value)


class ParquetReader(TableReader):
    """An Apache Parquet file, read in batches."""

    format = "parquet"
    label = "Parquet"
    extensions = (".parquet", ".pq")
    batch_rows = 20_000

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        return head.startswith(b"PAR1")

    def read(self, data: bytes, *, sheet: str | None, records: str | None, max_bytes: int) -> Table:
        try:
            parquet = pq.ParquetFile(io.BytesIO(data))
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError … for a broken file
            raise FileRejected(f"the Parquet file cannot be read: {error}") from None
        columns = _header(parquet.schema_arrow.names)
        return Table(
            self.format, columns, self._rows(parquet, columns), row_count=parquet.metadata.num_rows
        )

    def _rows(self, parquet: pq.ParquetFile, columns: list[str]) -> Iterator[Row]:
        number = 0
        for batch in parquet.iter_batches(batch_size=self.batch_rows):
            cells = [[text_of(v) for v in column.to_pylist()] for column in batch.columns]
            for values in zip(*cells, strict=True):
                number += 1
                yield Row(number, dict(zip(columns, values, strict=True)))


READERS: dict[str, TableReader] = {
    r.format: r for r in (CsvReader(), ExcelReader(), JsonReader(), ParquetReader())
}
_REFUSED_HEADS = (
    (b"\xd0\xcf\x11\xe0", "an older Excel workbook (.xls); save it as .xlsx or CSV"),
    (b"\x1f\x8b", "compressed (gzip); send the file itself"),
    (b"%PDF", "a PDF document, not a table"),
)


def _by_content(data: bytes) -> str:
    head = data[:4096]
    for magic, what in _REFUSED_HEADS:
        if head.startswith(magic):
            raise FileRejected(f"the file is {what}")
    for name in ("excel", "parquet", "json"):
        if READERS[name].recognises(head):
            return name
    return "csv"


def extension_of(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    return "." + name.rsplit(".", 1)[1] if "." in name else ""


def detect_format(data: bytes, filename: str, declared: str | None = None) -> str:
    """The file's format from its bytes; its extension (and the mapping's format) must agree."""
    if not data.strip():
        raise FileRejected("the file is empty")
    found = _by_content(data)
    reader = READERS[found]
    extension = extension_of(filename)
    by_name = next((r.format for r in READERS.values() if extension in r.extensions), None)
    if by_name is None:
        known = ", ".join(e for r in READERS.values() for e in r.extensions)
        raise FileRejected(
            f"{filename!r} should end in one of {known} (its content is {reader.label})"
        )
    if by_name != found:
        raise FileRejected(
            f"{filename!r} is named as {READERS[by_name].label} but its content is {reader.label}"
        )
    if declared and declared != found:
        raise FileRejected(f"the mapping says format: {declared} but the file is {reader.label}")
    return found


def read_table(
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    format: str | None = None,
    sheet: str | None = None,
    records: str | None = None,
) -> Table:
    """Open a file's rows; :class:`FileRejected` says why a file cannot be read."""
    if len(data) > max_bytes:
        raise FileRejected(
            f"the file is {len(data) / MB:.1f} MB; the largest accepted is {max_bytes / MB:g} MB"
        )
    found = detect_format(data, filename, format)
    return READERS[found].read(data, sheet=sheet, records=records, max_bytes=max_bytes)
