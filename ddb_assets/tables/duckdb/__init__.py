"""Typed snapshots of a DynamoDB export in a local DuckDB warehouse.

Layout per DynamoDB table ``T`` in schema ``S`` (:mod:`.storage`). The typed rows are Parquet
files, one folder per snapshot as the Athena engine's partitions, in a folder next to the
warehouse file (:func:`snapshot_root`: ``<warehouse>.snapshots/S/T/snapshot_date=<d>/``); the
warehouse holds the metadata and the views:

* ``"S"."T__snapshots"``: a view of every snapshot (column ``snapshot_date DATE`` and every
  physical column; older files are cast to a column's widened DECIMAL scale, a column a
  snapshot lacks reads NULL);
* ``"S"."T__columns"``: per snapshot, each column's name, physical column, type, source
  attribute, role and the DynamoDB types seen (the column -> attribute mapping);
* ``"S"."T__loads"``: one row per snapshot (date, load sequence, row count), empty ones too;
* ``"S"."T__files"``: each snapshot's files (relative to the folder) and their rows;
* ``"S"."T"``: a view of the latest snapshot with that snapshot's columns (what analysts use;
  only ``snapshot_date`` when the latest export was empty).

Writing Parquet (zstd level 1) costs about a seventh less CPU than DuckDB's own table storage,
whose string compression is the dearest part of a load (``bench/RESULTS.md``). A warehouse
from before keeps its snapshots in a table ``T__snapshots``; its next load moves them to
files (:func:`.storage.migrate_table`).

:func:`load_snapshot_duckdb` (:mod:`.load`) reads the gzip export directly with DuckDB
(``read_ndjson_objects``: one JSON text per line, no schema inference, streamed) and parses
each line with ``json_transform`` into one STRUCT per attribute with a field per DynamoDB
type tag (:mod:`.decoding`; attribute names only travel in the bound structure parameter).
Two ways:

* **one pass** (:mod:`.onepass`, the common case): the first lines of files spread
  over the export give the attributes, their tags, the structure of M / L values and the
  shape of the numbers; the plan comes from them. One typed ``COPY (SELECT ...) TO`` parses
  every line once and checks it as it goes (:mod:`.rowcheck`): the row's DynamoDB JSON length
  recomputed from the parsed values must be the line's (nothing the guess does not cover was
  dropped; strings are counted without their escapes first, and exactly when that falls short
  or when the sample shows the attribute often needs escapes), and
  every number must be exactly a value of its DECIMAL column. The first line that fails
  stops the write (its file is removed) and joins the sample for one more attempt.
  Afterwards the statistics of every row must give the same plan (:mod:`.recheck`): the
  Parquet writer's own statistics of the file (counts, smallest and largest numbers), or the
  typed columns read back when a number's scale needs testing.
  Nothing is staged: the load streams, so its memory does not grow with the export.
* **staged** (:mod:`.staged`; everything else: type conflicts, numbers beyond DECIMAL(38),
  overrides on numbers, lines not written minified, a guess that missed twice):

  1. a sample of the first items (``json_group_structure``, :mod:`.sample`) guesses the
     attributes, their tags and the structure of M / L values; it decides nothing on its own;
  2. every line is parsed once into a temporary stage (:mod:`.stage`; rows the guess does not
     cover are staged again the general way); a pass over the stage counts every attribute's
     tags and the shape of its numbers (:mod:`.stats`);
  3. one typed ``COPY (SELECT ...) TO`` a file per stage part with explicit types
     (:mod:`.insert`, :mod:`.values`). M / L values become plain JSON in SQL after the sampled
     structure; every row is checked (the value written back as DynamoDB JSON must have the
     source text's length, so nothing was dropped) and rows that fail go through
     :func:`ddb_assets.tables.codec.plain_json_many` (orjson, Arrow UDF).

Replacing a snapshot writes new files under fresh names; the metadata, the file list and
the views that switch to them change in one transaction (:mod:`.snapshot`), so a failed load
leaves the previous state and the views untouched (and removes the files it wrote); the
replaced files are removed after the commit. During a load into a file-backed warehouse
DuckDB's buffer pool is capped by the number of DuckDB threads (:mod:`.memory`:
:data:`.memory.DIRECT_MEMORY_PER_THREAD` for the one-pass load,
:data:`.memory.LOAD_MEMORY_PER_THREAD` for the staged one, which spills its stage; larger ones
for exports of long lines, :data:`.memory.LONG_LINE`) and insertion order is not preserved;
both settings are put back afterwards. ION exports are first transcoded to DYNAMODB_JSON by
Amazon's ion-rs (the ``ddb_ion`` extension, one thread per core, :mod:`.ion`), byte for byte
as the amazon.ion reference (:func:`ddb_assets.tables.codec.ion_lines_to_dynamodb_json`).

Attribute names never reach SQL text: structures and JSON paths are bound as parameters;
identifiers go through :func:`ddb_assets.sql.identifiers.quote_ident`. (Keys inside M values
reach the SQL only as a bound list of key texts.)

The modules' public names are the package's own interface; other packages use the names
re-exported here.
"""

from ddb_assets.tables.duckdb.decoding import ExportReadError, prepare
from ddb_assets.tables.duckdb.load import EXPORT_FORMATS, load_snapshot_duckdb
from ddb_assets.tables.duckdb.stats import discover_attributes
from ddb_assets.tables.duckdb.storage import PARQUET_OPTIONS, snapshot_root
from ddb_assets.tables.duckdb.values import value_sql

__all__ = [
    "EXPORT_FORMATS",
    "PARQUET_OPTIONS",
    "ExportReadError",
    "discover_attributes",
    "load_snapshot_duckdb",
    "prepare",
    "snapshot_root",
    "value_sql",
]
