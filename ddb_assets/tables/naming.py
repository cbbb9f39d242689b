"""Deterministic, safe column names for DynamoDB attribute names.

Rule (documented in the result's ``name_map``):

1. A name is made safe: Unicode NFKD with accents dropped, lower case, every other
   non-ASCII character spelled ``u<hex>``, any run of characters outside ``[a-z0-9]``
   becomes one ``_``, leading/trailing ``_`` stripped, a leading digit gets a ``_``
   prefix, an empty result becomes ``col``, a SQL reserved word or ``snapshot_date`` gets a
   trailing ``_``, names longer than 120 characters are cut and suffixed with a hash.
   Safe names therefore match ``[a-z_][a-z0-9_]*`` and never contain ``__`` (double
   underscores are kept for the companion columns ``<col>__type`` and ``<col>__raw``).
2. An attribute keeps the column it had in any earlier snapshot of the same table (names
   never change meaning over time); ``rename`` overrides win over everything.
3. New attributes are assigned in this order: attributes whose name is already safe
   (``name``), then the rest by sorted attribute name (``Name``); a taken name gets the
   first free ``_2``, ``_3``, ... suffix.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping

PARTITION_COLUMN = "snapshot_date"
MAX_NAME = 120
SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# Words that get a trailing ``_`` so that a column is convenient to type unquoted in Athena
# and DuckDB queries (mostly Trino's reserved words). Correctness does not depend on this
# list: every generated statement quotes every identifier, HiveQL DDL with backticks and
# Trino / DuckDB SQL with double quotes (ddb_assets.sql.identifiers), so HiveQL's larger
# reserved list (``transform``, ``exchange``, ``utc_timestamp``, ...) and names beginning with
# ``_`` or a digit need no entry. Changing the list would rename existing tables' columns.
RESERVED = frozenset(
    """
all alter analyze and any array as asc at authorization between bigint binary boolean both
by call case cast char check collate column commit constraint create cross cube current
current_date current_path current_role current_time current_timestamp current_user
database date deallocate decimal default delete desc describe distinct double drop else
end escape except execute exists extract false fetch filter float following for foreign
from full function grant group grouping having if in inner insert int integer intersect
interval into is join json lateral leading left like limit localtime localtimestamp
macro map natural normalize not null nulls of offset on only or order outer over
partition pivot position preceding prepare primary range recursive references returning
right rollup row rows select semi set show similar smallint some struct table tablesample
then time timestamp to trailing true truncate uescape union unique unknown unnest unpivot
update user using values varchar view when where window with within
""".split()
)


def safe_name(attribute: str) -> str:
    """The safe spelling of one attribute name (rule 1), before collision handling."""
    text = unicodedata.normalize("NFKD", attribute)
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch):
            continue
        if ch.isascii():
            out.append(ch.lower() if ch.isalnum() else "_")
        else:
            out.append(f"_u{ord(ch):x}_")
    name = re.sub(r"_+", "_", "".join(out)).strip("_")
    if not name:
        name = "col"
    if name[0].isdigit():
        name = "_" + name
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(attribute.encode("utf-8")).hexdigest()[:8]
        name = name[: MAX_NAME - 9].rstrip("_") + "_" + digest
    if name in RESERVED or name == PARTITION_COLUMN:
        name += "_"
    return name


def check_rename(name: str, attribute: str) -> str:
    if (
        not SAFE_NAME.match(name)
        or "__" in name
        or name == PARTITION_COLUMN
        or len(name) > MAX_NAME
    ):
        raise ValueError(
            f"rename {name!r} for attribute {attribute!r} is not a safe column name: use "
            "[a-z_][a-z0-9_]* without '__', at most 120 characters, not 'snapshot_date'"
        )
    return name


def assign_column_names(
    attributes: Iterable[str],
    *,
    history: Mapping[str, str] | None = None,
    renames: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """attribute -> column name for ``attributes`` (rules 2 and 3).

    ``history`` is attribute -> column from earlier snapshots; ``renames`` from config.
    """
    history = dict(history or {})
    renames = dict(renames or {})
    attrs = sorted(set(attributes))
    result: dict[str, str] = {}
    taken: set[str] = set()
    for attr in attrs:
        if attr in renames:
            col = check_rename(renames[attr], attr)
            if col in taken:
                other = next(a for a, c in result.items() if c == col)
                raise ValueError(
                    f"renames give attributes {other!r} and {attr!r} the same column {col!r}"
                )
            result[attr] = col
            taken.add(col)
    # Names used by other attributes in earlier snapshots stay theirs.
    reserved_by_history = {c: a for a, c in history.items() if a not in renames}
    for attr in attrs:
        if attr in result:
            continue
        kept = history.get(attr)
        if kept is not None and kept not in taken:
            result[attr] = kept
            taken.add(kept)
    blocked = taken | set(reserved_by_history)
    pending = [a for a in attrs if a not in result]
    pending.sort(key=lambda a: (safe_name(a) != a, a))
    for attr in pending:
        base = safe_name(attr)
        col, n = base, 1
        while col in blocked:
            n += 1
            col = f"{base}_{n}"
        result[attr] = col
        blocked.add(col)
    for attr, col in result.items():
        if col in renames.values() and renames.get(attr) != col:
            raise ValueError(f"rename target {col!r} is already used by attribute {attr!r}")
    return result
