"""The office's reports (``lianxin report``, ``GET /api/v1/reports``): the figures of
``domain/metrics.py`` over the tickets of a period, or of ``domain/consult_metrics.py``
over its legal consultations, named by the catalogue, as a table, CSV or an xlsx workbook
with a sheet per grouping (openpyxl). The column names and sheet titles are in the text
catalogue (``report_col_*``, ``report_by_*``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from openpyxl import Workbook

from domain.catalogue import Catalogue
from domain.consult_metrics import (
    CONSULT_COLUMNS,
    CONSULT_RATES,
    ConsultFacts,
    ConsultGrouping,
)
from domain.consult_metrics import report as consult_report
from domain.display import department_name
from domain.metrics import COLUMNS, RATES, Grouping, Rules, TicketFacts, report
from domain.texts import Texts

FORMATS = ("table", "csv", "xlsx")


class Row(Protocol):
    def row(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one period, by each grouping asked for (its name; ``None``: all
    together), in ``columns`` (``rates``: those that are fractions)."""

    first: date
    last: date
    as_of: datetime
    sheets: tuple[tuple[str | None, Sequence[Row]], ...]
    columns: tuple[str, ...] = COLUMNS
    rates: frozenset[str] = RATES


def build(tickets: Sequence[TicketFacts], rules: Rules, groupings: Sequence[Grouping | None],
          catalogue: Catalogue | None, texts: Texts, first: date, last: date) -> Report:
    def label_for(grouping: Grouping | None) -> Callable[[str], str]:
        names: dict[str, str] = {}
        if catalogue is not None and grouping is Grouping.CATEGORY:
            names = {c.id: c.name for c in catalogue.categories}
        elif catalogue is not None and grouping is Grouping.REGION:
            names = {r.id: r.name for r in catalogue.regions}

        def label(key: str) -> str:
            if key == "":
                return texts("report_not_given")
            if catalogue is not None and grouping is Grouping.DEPARTMENT:
                return department_name(catalogue, key)
            return names.get(key, key)
        return label

    return Report(first, last, rules.as_of, tuple(
        (None if grouping is None else grouping.value,
         report(tickets, rules, grouping, label=label_for(grouping),
                total=texts("report_total")))
        for grouping in groupings))


def build_consultations(consultations: Sequence[ConsultFacts], as_of: datetime,
                        groupings: Sequence[ConsultGrouping | None],
                        catalogue: Catalogue | None, lawyers: Mapping[int, str],
                        texts: Texts, first: date, last: date) -> Report:
    """The legal consultation's figures (``lawyers``: their names by id)."""
    areas = {} if catalogue is None else {a.id: a.name for a in catalogue.legal_areas}

    def label_for(grouping: ConsultGrouping | None) -> Callable[[str], str]:
        def label(key: str) -> str:
            if key == "":
                return texts("report_no_lawyer")
            if grouping is ConsultGrouping.LAWYER:
                return lawyers.get(int(key), key)
            return areas.get(key, key) if grouping is ConsultGrouping.AREA else key
        return label

    return Report(first, last, as_of, tuple(
        (None if grouping is None else grouping.value,
         consult_report(consultations, as_of, grouping, label=label_for(grouping),
                        total=texts("report_total")))
        for grouping in groupings), columns=CONSULT_COLUMNS, rates=CONSULT_RATES)


def header(texts: Texts, grouping: str | None,
           columns: Sequence[str] = COLUMNS) -> list[str]:
    first = texts(f"report_by_{grouping}") if grouping else texts("report_all")
    return [first, *(texts(f"report_col_{column}") for column in columns[1:])]


def _cell(column: str, value: object, rates: frozenset[str], *, percent: bool) -> str:
    if value is None:
        return "-"
    if column in rates and percent:
        return f"{float(value) * 100:.2f}%"  # type: ignore[arg-type]
    return str(value)


def as_table(result: Report, texts: Texts) -> str:
    """Each grouping as aligned columns, rates in per cent."""
    blocks = []
    for grouping, rows in result.sheets:
        table = [header(texts, grouping, result.columns)] + [
            [_cell(c, v, result.rates, percent=True) for c, v in row.row().items()]
            for row in rows]
        widths = [max(_width(line[i]) for line in table) for i in range(len(table[0]))]
        blocks.append("\n".join(
            "  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(line))
            .rstrip() for line in table))
    return "\n\n".join(blocks) + "\n"


def _width(text: str) -> int:
    """Columns on a terminal: a Chinese character takes two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def as_csv(result: Report, texts: Texts) -> str:
    """The first grouping as CSV (UTF-8), rates as fractions (0.9737)."""
    grouping, rows = result.sheets[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header(texts, grouping, result.columns))
    for row in rows:
        writer.writerow(["" if v is None else v for v in row.row().values()])
    return out.getvalue()


def as_xlsx(result: Report, texts: Texts) -> bytes:
    """A workbook with a sheet per grouping; rates are numbers in the percent format (the
    cell holds the exact fraction)."""
    book = Workbook()
    book.remove(book.active)
    for grouping, rows in result.sheets:
        columns = header(texts, grouping, result.columns)
        sheet = book.create_sheet(title=columns[0][:31])
        sheet.append(columns)
        for row in rows:
            sheet.append(list(row.row().values()))
            for index, column in enumerate(result.columns, start=1):
                if column in result.rates:
                    sheet.cell(row=sheet.max_row, column=index).number_format = "0.00%"
    info = book.create_sheet(title=texts("report_about_sheet"))
    info.append([texts("report_about_period"), f"{result.first:%Y-%m-%d}",
                 f"{result.last:%Y-%m-%d}"])
    info.append([texts("report_about_as_of"), result.as_of.isoformat()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
