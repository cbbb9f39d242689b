"""Joda-Time patterns (Trino's format_datetime / parse_datetime) → strftime (DuckDB)."""

from __future__ import annotations

from collections.abc import Callable

from ddb_assets.sql._sqlgen import TranspileError

_JODA: dict[str, Callable[[int], str | None]] = {
    "y": lambda n: "%y" if n == 2 else "%Y",
    "Y": lambda n: "%y" if n == 2 else "%Y",
    "x": lambda n: "%G" if n != 2 else None,
    "w": lambda n: "%V" if n == 2 else ("%-V" if n == 1 else None),
    "e": lambda n: "%u" if n == 1 else None,
    "E": lambda n: "%A" if n >= 4 else "%a",
    "M": lambda n: {1: "%-m", 2: "%m", 3: "%b"}.get(n, "%B"),
    "d": lambda n: {1: "%-d", 2: "%d"}.get(n),
    "D": lambda n: {1: "%-j", 3: "%j"}.get(n),
    "a": lambda n: "%p",
    "h": lambda n: {1: "%-I", 2: "%I"}.get(n),
    "H": lambda n: {1: "%-H", 2: "%H"}.get(n),
    "m": lambda n: {1: "%-M", 2: "%M"}.get(n),
    "s": lambda n: {1: "%-S", 2: "%S"}.get(n),
    "S": lambda n: {3: "%g", 6: "%f", 9: "%n"}.get(n),
}


def joda_to_strftime(pattern: str) -> str:
    """Translate a Joda-Time pattern (``yyyy-MM-dd HH:mm:ss``) to a strftime format.

    Raises :class:`TranspileError` for letters DuckDB cannot print the same way (time zone
    letters ``z``/``Z``: DuckDB values carry no zone; see the module docstring).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            j = i + 1
            if j < n and pattern[j] == "'":
                out.append("'")
                i += 2
                continue
            text = []
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            else:
                raise TranspileError(f"format_datetime pattern {pattern!r}: unterminated quote")
            out.append("".join(text).replace("%", "%%"))
            i = j + 1
            continue
        if c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            count = j - i
            conv = _JODA.get(c)
            spec = conv(count) if conv else None
            if spec is None:
                raise TranspileError(
                    f"format_datetime pattern {pattern!r}: {c * count!r} has no DuckDB "
                    "strftime equivalent"
                    + (
                        " (values carry no zone in DuckDB; format at_timezone(ts, zone) instead)"
                        if c in "zZ"
                        else ""
                    )
                )
            out.append(spec)
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)
