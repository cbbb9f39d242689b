"""ION exports on the Athena engine: registered with Athena's Ion SerDe, read as DynamoDB JSON.

An ION export (``$ion_1_0 {Item:{pk:"a",qty:3.,tags:$dynamodb_SS::["x"]}}``) keeps every
DynamoDB type: N as an Ion decimal, B as a blob, sets as lists annotated ``$dynamodb_SS`` /
``_NS`` / ``_BS``. Athena reads it with the Amazon Ion Hive SerDe
(``com.amazon.ionhiveserde.IonHiveSerDe`` with the Ion input/output formats); its path
extractors map a value of each document onto a declared column. The raw tables declare:

* ``<image>_ion string`` with ``'ion.<image>_ion.path_extractor' = '(<Image>)'`` for each
  image of the record (``Item`` for a full export; ``Keys``, ``NewImage``, ``OldImage`` and
  ``Metadata`` for an incremental one). The SerDe reads any Ion value into a ``STRING``
  column as its Ion text (``IonValue.toString()``), so this column is the image's Ion text
  exactly, strings quoted and escaped, sets annotated.
* ``item map<string,string>`` with ``'ion.item.path_extractor' = '(Item)'`` (full exports):
  the SerDe's own list of the item's attribute names (a string value as its content, any
  other value as its Ion text, an Ion null as NULL). Discovery cross-checks the names read
  from the Ion text against it, so a mis-read of the Ion text fails the load loudly.
* ``'ion.path_extractor.case_sensitive' = 'true'``: DynamoDB attribute names are case
  sensitive (the SerDe's default matches path steps case-insensitively).

:func:`ion_to_typed_json_sql` turns an image's Ion text into DynamoDB JSON with one
``regexp_replace`` over its tokens: a string becomes ``{"S":...}``, a decimal ``{"N":...}``
(in DynamoDB's canonical digits, as its JSON export and the DuckDB ION load spell it), a blob
``{"B":...}``, ``true``/``false`` ``{"BOOL":...}``, ``null`` ``{"NULL":true}``, an annotated
set ``{"SS":[...]}`` (its members untyped, as DynamoDB JSON writes them), a struct ``{"M":{``
... ``}}`` and a list ``{"L":[`` ... ``]}``. Each token maps on its own (a container's
braces map to fixed text), so no recursion is needed. :func:`ion_line_sql` then builds the
record's DynamoDB JSON line (``{"Item":{...}}``, or ``{"Metadata":...,"Keys":...,...}``), and
every statement of the JSON path (discovery, CTAS, checks, the change history) reads that
line exactly as it reads a DYNAMODB_JSON export's line: one type mapping, one naming, one set
of checks for both formats. Anything outside the Ion that DynamoDB writes (a float, a
timestamp, a symbol value, an s-expression) is left in place, so ``json_parse`` fails the
statement naming the value rather than typing it wrongly.

Data never flows through this process: Athena reads the export where it lies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ddb_assets.sql.identifiers import hive_ident, quote_ident
from ddb_assets.sql.literals import sql_literal

ION_SERDE = "com.amazon.ionhiveserde.IonHiveSerDe"
ION_INPUT_FORMAT = "com.amazon.ionhiveserde.formats.IonInputFormat"
ION_OUTPUT_FORMAT = "com.amazon.ionhiveserde.formats.IonOutputFormat"

ITEM_MAP = "item"  # map<string,string> of the Item: the SerDe's list of attribute names
SNAPSHOT_IMAGES = ("Item",)
INCREMENTAL_IMAGES = ("Metadata", "Keys", "NewImage", "OldImage")


def image_column(image: str) -> str:
    """The raw table's column holding one image's Ion text (``Item`` -> ``item_ion``)."""
    out = []
    for i, ch in enumerate(image):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out) + "_ion"


def raw_columns(images: Sequence[str], *, with_item_map: bool) -> list[tuple[str, str]]:
    """(name, Hive type) of an ION raw table's columns."""
    cols = [(image_column(i), "string") for i in images]
    if with_item_map:
        cols.append((ITEM_MAP, "map<string,string>"))
    return cols


def serde_parameters(images: Sequence[str], *, with_item_map: bool) -> dict[str, str]:
    """The SerDe properties of an ION raw table (Athena's "Use path extractors" page)."""
    params = {"ion.path_extractor.case_sensitive": "true", "ion.encoding": "TEXT"}
    for image in images:
        params[f"ion.{image_column(image)}.path_extractor"] = f"({image})"
    if with_item_map:
        params[f"ion.{ITEM_MAP}.path_extractor"] = "(Item)"
    return params


def storage_descriptor(location: str, images: Sequence[str], *, with_item_map: bool) -> dict:
    """Glue ``StorageDescriptor`` of an ION raw table or partition."""
    return {
        "Columns": [
            {"Name": n, "Type": t} for n, t in raw_columns(images, with_item_map=with_item_map)
        ],
        "Location": location,
        "InputFormat": ION_INPUT_FORMAT,
        "OutputFormat": ION_OUTPUT_FORMAT,
        "SerdeInfo": {
            "SerializationLibrary": ION_SERDE,
            "Parameters": serde_parameters(images, with_item_map=with_item_map),
        },
    }


def hive_row_format(images: Sequence[str], *, with_item_map: bool) -> str:
    """HiveQL ``ROW FORMAT SERDE ... WITH SERDEPROPERTIES ... STORED AS INPUTFORMAT ...``."""
    props = ", ".join(
        f"{sql_literal(k)} = {sql_literal(v)}"
        for k, v in serde_parameters(images, with_item_map=with_item_map).items()
    )
    return (
        f"ROW FORMAT SERDE {sql_literal(ION_SERDE)} WITH SERDEPROPERTIES ({props}) "
        f"STORED AS INPUTFORMAT {sql_literal(ION_INPUT_FORMAT)} "
        f"OUTPUTFORMAT {sql_literal(ION_OUTPUT_FORMAT)}"
    )


def hive_columns(images: Sequence[str], *, with_item_map: bool) -> str:
    return ", ".join(
        f"{hive_ident(n)} {t}" for n, t in raw_columns(images, with_item_map=with_item_map)
    )


# --- Ion text to DynamoDB JSON ---------------------------------------------------------

_STR = r'"(?:[^"\\]|\\[\s\S])*"'
# One token per match; the groups say which: 1 string, 2 quoted field name, 3 bare field
# name, 4/5 annotated set (kind, members), 6 blob, 7 number, 8 bool, 9 null, 10 bracket.
_TOKEN = (
    f"({_STR})"
    r"|'((?:[^'\\]|\\[\s\S])*)':(?!:)"
    r"|([A-Za-z_$][A-Za-z0-9_$]*):(?!:)"
    rf"|\$dynamodb_(SS|NS|BS)::\[((?:{_STR}|[^\]\"])*)\]"
    r"|\{\{([^}]*)\}\}"
    r"|(-?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[dD][+-]?[0-9]+)?)(?![0-9A-Za-z_.$])"
    r"|(true|false)(?![0-9A-Za-z_$])"
    r"|(null(?:\.[a-z]+)?)(?![0-9A-Za-z_$])"
    r"|([{}\[\]])"
)
_ESCAPE = r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[\s\S])"
_SIMPLE = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "0": 0}


def _let(value: str, var: str, body: str) -> str:
    """``body`` with ``var`` bound to ``value`` (evaluated once)."""
    return f"element_at(transform(ARRAY[{value}], {var} -> {body}), 1)"


def _unescape_sql(body: str, v: str) -> str:
    """The text of an Ion string/symbol body (between its quotes)."""
    simple = " ".join(f"WHEN {sql_literal(k)} THEN chr({c})" for k, c in _SIMPLE.items())
    return (
        f"regexp_replace({body}, {sql_literal(_ESCAPE)}, {v} -> CASE WHEN length({v}[1]) > 1 "
        f"THEN chr(CAST(from_base(substr({v}[1], 2), 16) AS bigint)) "
        f"ELSE CASE {v}[1] {simple} WHEN chr(10) THEN '' ELSE {v}[1] END END)"
    )


def _json_string_sql(body: str, v: str) -> str:
    """JSON string literal (quoted, escaped) of an Ion string/symbol body."""
    return f"json_format(CAST({_unescape_sql(body, v)} AS json))"


def decimal_text_sql(number: str, v: str) -> str:
    """DynamoDB number text of an Ion decimal (or int) token, in DynamoDB's canonical spelling
    (its DYNAMODB_JSON export's, and the DuckDB engine's ION load's): plain digits, never an
    exponent, no leading zeros but the one before the point, no trailing fractional zeros,
    zero unsigned: ``103.`` -> ``103``, ``6d2`` -> ``600``, ``1.50`` -> ``1.5``,
    ``-0.`` -> ``0``, ``1d-3`` -> ``0.001``."""
    n = f"replace({number}, '_', '')"
    sign = f"regexp_extract({v}, '^(-?)', 1)"
    ip = f"regexp_extract({v}, '^-?([0-9]*)', 1)"
    fp = f"coalesce(regexp_extract({v}, '\\.([0-9]*)', 1), '')"
    ex = f"coalesce(CAST(regexp_extract({v}, '[dD]([+-]?[0-9]+)$', 1) AS integer), 0)"
    c0 = f"regexp_replace({ip} || {fp}, '^0+', '')"
    # r: ROW(sign, coefficient digits without leading zeros, exponent, trailing zeros that
    # may go: fractional ones only); s: ROW(sign, coefficient, exponent) with those gone
    cut = f"least(length({v}r[2]) - length(regexp_replace({v}r[2], '0+$', '')), greatest(-{v}r[3], 0))"
    parts = _let(
        f"ROW({sign}, {c0}, {ex} - length({fp}))",
        f"{v}r",
        _let(
            f"ROW({v}r[1], substr({v}r[2], 1, length({v}r[2]) - {cut}), {v}r[3] + {cut})",
            f"{v}s",
            _format_decimal(f"{v}s"),
        ),
    )
    return _let(n, v, parts)


def _format_decimal(s: str) -> str:
    sign, c, e = f"{s}[1]", f"{s}[2]", f"{s}[3]"
    point = f"length({c}) + {e}"
    body = (
        f"CASE WHEN {e} >= 0 THEN {c} || lpad('', {e}, '0') "
        f"WHEN {point} > 0 THEN substr({c}, 1, {point}) || '.' || substr({c}, {point} + 1) "
        f"ELSE '0.' || lpad('', -({point}), '0') || {c} END"
    )
    return f"CASE WHEN {c} = '' THEN '0' ELSE {sign} || {body} END"


def _set_members_sql(kind: str, members: str) -> str:
    body = "substr(x[1], 2, length(x[1]) - 2)"
    strings = (
        f"regexp_replace({members}, {sql_literal('(' + _STR + ')')}, "
        f"x -> {_json_string_sql(body, 'xe')})"
    )
    numbers = (
        f"regexp_replace({members}, '(-?[0-9][0-9_.dD+-]*)', "
        f"x -> '\"' || {decimal_text_sql('x[1]', 'xn')} || '\"')"
    )
    blobs = f"regexp_replace({members}, '\\{{\\{{([^}}]*)\\}}\\}}', x -> '\"' || regexp_replace(x[1], '\\s', '') || '\"')"
    return f"CASE {kind} WHEN 'SS' THEN {strings} WHEN 'NS' THEN {numbers} ELSE {blobs} END"


def ion_to_typed_json_sql(ion_text: str) -> str:
    """Athena SQL: the DynamoDB JSON (``{"M":{...}}`` for a struct) of one Ion value's text
    as the Ion SerDe gives it (see the module's docs). NULL stays NULL."""
    m = "m"
    string = (
        f"'{{\"S\":' || {_json_string_sql(f'substr({m}[1], 2, length({m}[1]) - 2)', 'e')} || '}}'"
    )
    case = (
        f"CASE WHEN {m}[1] IS NOT NULL THEN {string} "
        f"WHEN {m}[2] IS NOT NULL THEN {_json_string_sql(f'{m}[2]', 'e')} || ':' "
        f"WHEN {m}[3] IS NOT NULL THEN json_format(CAST({m}[3] AS json)) || ':' "
        f"WHEN {m}[4] IS NOT NULL THEN '{{\"' || {m}[4] || '\":[' || {_set_members_sql(f'{m}[4]', f'{m}[5]')} || ']}}' "
        f"WHEN {m}[6] IS NOT NULL THEN '{{\"B\":\"' || regexp_replace({m}[6], '\\s', '') || '\"}}' "
        f"WHEN {m}[7] IS NOT NULL THEN '{{\"N\":\"' || {decimal_text_sql(f'{m}[7]', 'd')} || '\"}}' "
        f"WHEN {m}[8] IS NOT NULL THEN '{{\"BOOL\":' || {m}[8] || '}}' "
        f"WHEN {m}[9] IS NOT NULL THEN '{{\"NULL\":true}}' "
        f"WHEN {m}[10] = '{{' THEN '{{\"M\":{{' WHEN {m}[10] = '}}' THEN '}}}}' "
        f"WHEN {m}[10] = '[' THEN '{{\"L\":[' ELSE ']}}' END"
    )
    return f"regexp_replace({ion_text}, {sql_literal(_TOKEN)}, {m} -> {case})"


def _struct_members_sql(ion_text: str) -> str:
    """``{...}`` (the attributes) of an Ion struct's text: its typed JSON without ``{"M":``."""
    typed = ion_to_typed_json_sql(ion_text)
    return _let(typed, "t", "substr(t, 6, length(t) - 6)")


def ion_line_sql(images: Sequence[str]) -> str:
    """The record's DynamoDB JSON line from an ION raw table's image columns: ``{"Item":{...}}``
    for a full export, ``{"Metadata":{...},"Keys":{...},"NewImage":{...},"OldImage":{...}}``
    (absent images left out) for an incremental one."""
    parts = []
    for image in images:
        col = quote_ident(image_column(image))
        head = sql_literal(json.dumps(image) + ":")
        parts.append(
            f"CASE WHEN {col} IS NULL THEN NULL ELSE {head} || {_struct_members_sql(col)} END"
        )
    return (
        "'{' || array_join(filter(ARRAY[" + ", ".join(parts) + "], p -> p IS NOT NULL), ',') || '}'"
    )


def names_check_sql(line: str) -> str:
    """``line`` unchanged when the attribute names read from the Item's Ion text are the
    ones the SerDe lists in ``item`` (its map column); otherwise text that is not JSON and
    names the difference, so the statement that parses the line fails loudly."""
    item_map = quote_ident(ITEM_MAP)
    parsed = f"map_keys(CAST(json_extract({line}, '$.Item') AS map(varchar, json)))"
    return (
        f"CASE WHEN {item_map} IS NULL OR array_sort(map_keys({item_map})) = array_sort({parsed}) "
        f"THEN {line} ELSE json_format(json_parse('ION export read inconsistently: the Ion SerDe "
        f"lists the attributes ' || array_join(array_sort(map_keys({item_map})), ',') || "
        f"' but the Ion text gives ' || array_join(array_sort({parsed}), ','))) END"
    )


def checked_line_sql(images: Sequence[str]) -> str:
    """:func:`ion_line_sql` of a full export, checked against the SerDe's map of names."""
    return _let(ion_line_sql(images), "l", names_check_sql("l"))


def snapshot_source_sql(raw_table_sql: str, partition_column: str) -> str:
    """A relation with the JSON path's raw columns (``line``, ``"$path"``, the partition)
    over an ION snapshot raw table (``raw_table_sql`` already qualified)."""
    line = checked_line_sql(SNAPSHOT_IMAGES)
    return (
        f'(SELECT {line} AS "line", "$path" AS "$path", {quote_ident(partition_column)} '
        f"FROM {raw_table_sql})"
    )
