"""The one place where identifiers (database, table, column names) become SQL text.

One function per dialect and position, each of which always quotes:

* :func:`quote_ident` / :func:`qualified`: Trino (Athena's queries and DML: SELECT, CTAS,
  INSERT, MERGE, UPDATE, DELETE, CREATE VIEW) and DuckDB, which share ``"..."``;
* :func:`hive_ident` / :func:`hive_qualified`: Athena's DDL, which is HiveQL (CREATE
  [EXTERNAL] TABLE, ALTER TABLE ADD COLUMNS / DROP COLUMN / ADD PARTITION, DROP TABLE):
  backticks, always, so a name that begins with ``_`` or a digit, or that is one of HiveQL's
  reserved words (``date``, ``timestamp``, ``user``, ...), is never read as something else.

Everything that reaches SQL from the data or the configuration goes through one of them.
Nothing else in the project pastes a name into an f-string.
"""

from __future__ import annotations

import re

# Glue / Athena catalog names: lower case letters, digits and underscores, at most 255
# characters (Athena folds names to lower case; Glue rejects most punctuation).
_CATALOG_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")


class InvalidIdentifierError(ValueError):
    """An identifier cannot be used in SQL as given."""


def validate_catalog_name(name: str, what: str = "name") -> str:
    """Check a database or table name against what Glue and Athena accept.

    Returns the name unchanged; raises :class:`InvalidIdentifierError` naming the problem
    and the fix otherwise.
    """
    if not isinstance(name, str) or not _CATALOG_NAME.match(name):
        raise InvalidIdentifierError(
            f"{what} {name!r} is not a valid Athena/Glue name: use only lower-case letters, "
            "digits and underscores, start with a letter or underscore, at most 255 "
            f"characters (for example {_suggest(name)!r})."
        )
    return name


def quote_ident(name: str) -> str:
    """Quote one identifier for Athena (Trino) and DuckDB SQL, which share ``"..."``.

    Any string without control characters is accepted; embedded double quotes are doubled.
    """
    if not isinstance(name, str) or name == "":
        raise InvalidIdentifierError(f"identifier {name!r} is empty or not a string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidIdentifierError(
            f"identifier {name!r} contains a control character; rename it in the config"
        )
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """``"db"."table"`` from its parts, each quoted by :func:`quote_ident`."""
    return ".".join(quote_ident(p) for p in parts if p is not None)


def hive_ident(name: str) -> str:
    """Quote one identifier for HiveQL DDL (Athena's DDL): ```name```, backticks doubled."""
    if not isinstance(name, str) or name == "":
        raise InvalidIdentifierError(f"identifier {name!r} is empty or not a string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidIdentifierError(
            f"identifier {name!r} contains a control character; rename it in the config"
        )
    return "`" + name.replace("`", "``") + "`"


def hive_qualified(*parts: str) -> str:
    """```db`.`table``` for HiveQL DDL, each part quoted by :func:`hive_ident`."""
    return ".".join(hive_ident(p) for p in parts if p is not None)


def _suggest(name: object) -> str:
    text = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_") or "t"
    if text[0].isdigit():
        text = "t_" + text
    return text[:255]
