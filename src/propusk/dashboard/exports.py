"""The evacuation list as files: CSV for a spreadsheet and PDF for a printer or a phone.

Both are made in the language of the request (headers, door group names, the timestamp).
The CSV starts with a byte order mark, which Excel needs to read UTF-8 (without it, Russian
names come out as mojibake); a cell that a spreadsheet would take for a formula (a phone
number starting with "+", a name starting with "=") is written as text.

The PDF embeds DejaVu Sans (static/dashboard/fonts, its licence beside it): the PDF core
fonts have no Cyrillic, and a roll call printed as empty boxes is no roll call.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from functools import cache
from pathlib import Path

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from propusk.dashboard.selectors import EvacuationList, InsideRow, door_label

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "dashboard" / "fonts"
FONT = "PropuskDejaVuSans"
FONT_BOLD = "PropuskDejaVuSans-Bold"

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _local(moment: datetime, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt)


def _headers() -> list[str]:
    return [_("No."), _("Name"), _("Host"), _("Phone"), _("Inside since"), _("Entry door")]


def _cells(number: int, row: InsideRow) -> list[str]:
    visit = row.visit
    host = visit.host.get_full_name() or visit.host.get_username()
    return [
        str(number),
        visit.visitor.full_name,
        host,
        visit.visitor.phone,
        _local(row.since),
        door_label(row.door),
    ]


def _as_text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def evacuation_csv(roll: EvacuationList) -> bytes:
    """UTF-8 with a BOM, one person a line, grouped by the entry door; the first line says
    when the list was taken."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [_("Evacuation list"), _local(roll.taken_at, "%d.%m.%Y %H:%M:%S"), str(roll.count)]
    )
    writer.writerow(_headers())
    number = 0
    for group in roll.groups:
        for row in group.rows:
            number += 1
            writer.writerow([_as_text(cell) for cell in _cells(number, row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))


def evacuation_pdf(roll: EvacuationList) -> bytes:
    """A4 landscape: the title and timestamp, then one table per entry door (its header row
    repeated on each page), page numbers at the foot."""
    _register_fonts()
    buffer = io.BytesIO()
    title = _("Evacuation list")
    taken = _local(roll.taken_at, "%d.%m.%Y %H:%M:%S")
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="Propusk",
    )
    heading = ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=16, leading=20)
    subheading = ParagraphStyle(
        "subheading", fontName=FONT_BOLD, fontSize=12, leading=16, spaceAfter=2 * mm
    )
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11)
    story: list = [
        Paragraph(_escape(title), heading),
        Paragraph(
            _escape(
                ngettext(
                    "%(count)d person inside at %(time)s",
                    "%(count)d people inside at %(time)s",
                    roll.count,
                )
                % {"count": roll.count, "time": taken}
            ),
            body,
        ),
        Spacer(1, 4 * mm),
    ]
    if not roll.groups:
        story.append(Paragraph(_escape(_("Nobody is inside.")), body))
    number = 0
    widths = [12 * mm, 70 * mm, 55 * mm, 38 * mm, 32 * mm, 66 * mm]
    for group in roll.groups:
        data: list[list[object]] = [[Paragraph(_escape(text), body) for text in _headers()]]
        for row in group.rows:
            number += 1
            data.append([Paragraph(_escape(cell), body) for cell in _cells(number, row)])
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), FONT),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        label = f"{door_label(group.door)} ({len(group.rows)})"
        # A door's heading never ends a page alone: a new page unless its first rows fit.
        story += [CondPageBreak(30 * mm), Paragraph(_escape(label), subheading), table]
        story.append(Spacer(1, 5 * mm))

    footer = f"{title} · {taken}"

    def on_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(12 * mm, 7 * mm, footer)
        canvas.drawRightString(
            landscape(A4)[0] - 12 * mm,
            7 * mm,
            _("Page %(page)d") % {"page": canvas.getPageNumber()},
        )
        canvas.restoreState()

    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _escape(text: str) -> str:
    """Paragraph text is a small markup language: names are data, not markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
