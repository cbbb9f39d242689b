"""Local AWS stack for development and tests: moto's server plus a DynamoDB export fidelity layer.

Production code never imports this package; the CLI (``ddb-assets local-aws``), tests and
benchmarks do.
"""

from ddb_assets.local.sample import create_sample_table, sample_items, seed_sample_tables
from ddb_assets.local.stack import ACCOUNT_ID, EXPORT_SECONDS_ENV, LocalAWS, serve_forever

__all__ = [
    "ACCOUNT_ID",
    "EXPORT_SECONDS_ENV",
    "LocalAWS",
    "create_sample_table",
    "sample_items",
    "seed_sample_tables",
    "serve_forever",
]
