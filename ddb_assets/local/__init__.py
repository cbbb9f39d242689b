"""Local AWS stack for development and tests: moto's server plus a DynamoDB export fidelity layer.

Production code never imports this package; the CLI (``ddb-assets local-aws``), tests and
benchmarks do. It needs moto, which the ``local`` extra installs (the README's install
includes it); production installs leave it out.
"""

try:
    import moto  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "the local AWS stack needs moto, which this installation lacks: install the 'local' "
        "extra (`uv sync --extra local`, or `pip install 'ddb_assets[local]'`)"
    ) from exc

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
