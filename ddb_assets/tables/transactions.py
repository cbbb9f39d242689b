"""Ending a DuckDB transaction after a failure without hiding why it failed.

When ``COMMIT`` itself fails (the disk fills while the WAL is written, say), DuckDB has
already ended the transaction: a ``ROLLBACK`` then raises "cannot rollback - no transaction
is active", and that error, raised inside the handler, would replace the real cause. Every
transaction in the project ends its failure path with :func:`rollback_quietly` and re-raises
the original error.
"""

from __future__ import annotations


def rollback_quietly(con) -> None:
    """``ROLLBACK`` if a transaction is still open; never raises (the caller is already
    handling the error that matters)."""
    try:
        con.execute("ROLLBACK")
    except Exception:  # no transaction left (a failed COMMIT ended it) or a dead connection
        pass
