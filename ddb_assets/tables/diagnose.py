"""Where an export is broken: the file, the line and the attribute.

The engines read exports with set-based SQL, whose errors say what went wrong but not
where. When a read fails, :func:`locate_problem` walks the files once in Python (gzip
stream, one line at a time, nothing held) and names the first problem it finds: a gzip
file cut short, a line that is not JSON, a line without ``Item``, or a value whose type
tag DynamoDB does not have. It only runs after a failure, so it costs nothing on a good
load.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Sequence

import orjson

TAGS = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")


class ExportProblem(ValueError):
    """One located problem of an export file."""

    def __init__(self, path: str, line: int | None, what: str, attribute: str | None = None):
        self.path, self.line, self.what, self.attribute = path, line, what, attribute
        where = os.path.basename(path) if path else "?"
        if line is not None:
            where += f" line {line}"
        if attribute:
            where += f", attribute {attribute}"
        super().__init__(f"{where}: {what}")


def _value_problem(value, path: str) -> tuple[str, str] | None:
    """(attribute path, problem) of the first malformed DynamoDB-typed value, or None."""
    if not isinstance(value, dict) or len(value) != 1:
        return path, f'expected one type tag such as {{"S": ...}}, got {_short(value)}'
    ((tag, v),) = value.items()
    if tag not in TAGS:
        return path, f"unknown DynamoDB type tag {tag!r} (known: {', '.join(TAGS)})"
    if tag in ("S", "N", "B") and not isinstance(v, str):
        return path, f"{tag} value must be a string, got {_short(v)}"
    if tag == "BOOL" and not isinstance(v, bool):
        return path, f"BOOL value must be true or false, got {_short(v)}"
    if tag == "NULL" and v is not True:
        return path, f"NULL value must be true, got {_short(v)}"
    if tag in ("SS", "NS", "BS") and not (
        isinstance(v, list) and all(isinstance(x, str) for x in v)
    ):
        return path, f"{tag} value must be a list of strings, got {_short(v)}"
    if tag == "M":
        if not isinstance(v, dict):
            return path, f"M value must be an object, got {_short(v)}"
        for k, sub in v.items():
            found = _value_problem(sub, f"{path}.{k}")
            if found:
                return found
    if tag == "L":
        if not isinstance(v, list):
            return path, f"L value must be a list, got {_short(v)}"
        for i, sub in enumerate(v):
            found = _value_problem(sub, f"{path}[{i}]")
            if found:
                return found
    return None


def _short(v) -> str:
    text = orjson.dumps(v).decode() if not isinstance(v, bytes) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_line(raw: bytes, path: str, line: int, *, top: str = "Item") -> None:
    """Raise :class:`ExportProblem` if ``raw`` is not one ``{"Item": {...}}`` line."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ExportProblem(path, line, f"not a JSON line ({exc}): {raw[:80]!r}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(top), dict):
        raise ExportProblem(path, line, f'expected {{"{top}": {{...}}}}, got {_short(doc)}')
    for attr, value in doc[top].items():
        found = _value_problem(value, attr)
        if found:
            raise ExportProblem(path, line, found[1], found[0])


def iter_lines(path: str) -> Iterable[tuple[int, bytes]]:
    """``(line number, bytes)`` of a gzip (or plain) JSON-lines file; a file cut short or
    not gzip raises :class:`ExportProblem` naming the file and the last whole line."""
    opener = gzip.open if _is_gzip(path) else open
    n = 0
    try:
        with opener(path, "rb") as fp:
            for n, raw in enumerate(fp, 1):  # noqa: B007 (n is read after the loop)
                if raw.strip():
                    yield n, raw
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ExportProblem(
            path,
            None,
            f"the gzip file is damaged or cut short after line {n} ({exc}); "
            "the export's copy in S3 is incomplete: re-export the partition",
        ) from None


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fp:
        return fp.read(2) == b"\x1f\x8b"


def locate_problem(files: Sequence[str], *, top: str = "Item") -> ExportProblem | None:
    """The first problem in ``files`` (DYNAMODB_JSON lines, gzip or plain), or None."""
    for f in files:
        try:
            for n, raw in iter_lines(str(f)):
                check_line(raw, str(f), n, top=top)
        except ExportProblem as problem:
            return problem
    return None


def count_items(path: str) -> int:
    """Non-empty lines of one data file (a file's item count, as its manifest states it)."""
    return sum(1 for _ in iter_lines(path))
