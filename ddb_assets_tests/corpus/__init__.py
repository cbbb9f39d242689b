"""The differential corpus: Athena queries run on Trino (the Athena engine's tables) and on
the DuckDB engine (the same export, through the transpiler)."""
