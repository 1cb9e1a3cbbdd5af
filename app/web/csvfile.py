"""CSV downloads of reports, safe to open in a spreadsheet.

A cell a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
return) gets a leading apostrophe, unless it is a plain number such as -12.50, which stays a
number (`app.core.csvsafe.safe_cell`, shared with the fund adapter's CSV). Excel opens the
file as UTF-8 thanks to the byte-order mark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from app.core.csvsafe import safe_cell

__all__ = ["csv_response", "safe_cell"]


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return Response(
        ("\ufeff" + buf.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
