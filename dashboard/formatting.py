"""Number formatting shared by pages, tables and chart hover text (pure; no streamlit).

Every figure the dashboard shows goes through these so that money, rates and durations look the same
everywhere: `$1.47`, `$0.0031`, `83.2%`, `420 ms`, `2.4 s`.
"""

from __future__ import annotations

import math
from numbers import Real


def _bad(value) -> bool:
    return value is None or not isinstance(value, Real) or (isinstance(value, float) and not math.isfinite(value))


def usd(value, *, signed: bool = False) -> str:
    """Money in USD with precision that suits its size: $1,234, $12.35, $0.0123, $0.000041."""
    if _bad(value):
        return "—"
    v = float(value)
    sign = "+" if signed and v > 0 else ("−" if v < 0 else "")
    a = abs(v)
    if a == 0:
        text = "0.00"
    elif a >= 1000:
        text = f"{a:,.0f}"
    elif a >= 1:
        text = f"{a:,.2f}"
    elif a >= 0.01:
        text = f"{a:.3f}"
    else:
        text = f"{a:.2g}" if a < 1e-6 else f"{a:.6f}".rstrip("0")
    return f"{sign}${text}"


def pct(value, *, digits: int = 1, signed: bool = False) -> str:
    """A fraction (0.832) as a percentage ("83.2%")."""
    if _bad(value):
        return "—"
    v = float(value) * 100
    sign = "+" if signed and v > 0 else ("−" if v < 0 else "")
    return f"{sign}{abs(v):.{digits}f}%"


def pp(value, *, digits: int = 1) -> str:
    """A difference of two fractions in percentage points ("+3.1 pp")."""
    if _bad(value):
        return "—"
    v = float(value) * 100
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    return f"{sign}{abs(v):.{digits}f} pp"


def ms(seconds) -> str:
    """A duration given in seconds, shown in ms below 10 s ("420 ms"), else in s/min."""
    if _bad(seconds):
        return "—"
    s = float(seconds)
    if abs(s) < 1:
        return f"{s * 1000:,.0f} ms" if abs(s) >= 0.01 else f"{s * 1000:.2f} ms"
    if abs(s) < 60:
        return f"{s:,.2f} s"
    if abs(s) < 3600:
        return f"{s / 60:,.1f} min"
    return f"{s / 3600:,.1f} h"


def us(micros) -> str:
    """Engine overhead in microseconds ("38 µs", "1.2 ms")."""
    if _bad(micros):
        return "—"
    v = float(micros)
    return f"{v:,.0f} µs" if abs(v) < 1000 else ms(v / 1e6)


def count(value) -> str:
    """An integer with thousands separators."""
    if _bad(value):
        return "—"
    return f"{int(round(float(value))):,}"


def number(value, digits: int = 3) -> str:
    if _bad(value):
        return "—"
    return f"{float(value):.{digits}f}"


# -- text from traces and event logs: shown as text, never interpreted ----------------------------------
_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|~$:=\"'&")


def md(text) -> str:
    """Trace-derived text made inert for Streamlit markdown: every character markdown (links, images,
    emphasis, `:material/…:` and `:red[…]` directives, LaTeX `$`) could act on is backslash-escaped, and
    line breaks become spaces. `md("![x](http://h/a.png)")` renders literally, fetching nothing."""
    s = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def code(text, limit: int = 120) -> str:
    """Trace-derived text as an inline code span (nothing inside a code span is interpreted); backticks in
    the text become ʹ so it cannot close the span, long text is cut with …."""
    s = " ".join(str(text).split()).replace("`", "ʹ")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return f"`{s}`" if s else "` `"


# a spreadsheet reads a cell starting with one of these as a formula (CSV injection, OWASP)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value safe to put in a CSV a spreadsheet opens: text starting with =, +, -, @, tab or CR is prefixed
    with ' (shown, not evaluated); numbers (including negative ones) stay numbers."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value
