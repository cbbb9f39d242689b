"""RDS snapshot exports as a source (issue #20), free of Dagster.

A configured RDS instance (or Aurora cluster) is exported once a day: the automated snapshot
of day D (or a manual one taken for D) goes to S3 through ``StartExportTask``
(:mod:`.exports`, :mod:`.snapshots`); the export's own metadata files say which tables it
wrote and with which source types (:mod:`.metadata`); the types map exactly to Athena and
DuckDB types (:mod:`.types`); the tables become typed daily snapshots on DuckDB
(:mod:`.duckdb_load`) or are registered in Glue over the exported Parquet (:mod:`.athena`).
"""
