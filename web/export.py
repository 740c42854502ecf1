"""A table as a download: XLSX (title row, frozen header, filters, widths fit Chinese) or CSV
with a BOM (Excel opens it as UTF-8), through the same writers as ``bangfu report``."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from bangfu.reports.base import Report
from bangfu.reports.writers import to_csv, to_xlsx

FORMATS = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def export_response(report: Report, fmt: str, filename: str, subtitle: str | None = None) -> web.Response:
    """``filename`` without extension; it may be Chinese (sent as RFC 5987 ``filename*``)."""
    data = to_xlsx(report, subtitle) if fmt == "xlsx" else to_csv(report)
    name = f"{filename}.{fmt}"
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPES[fmt], "Content-Disposition": disposition})
