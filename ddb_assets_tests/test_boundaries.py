"""Architecture rules that a refactor must not break silently."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ddb_assets"
# Only the command line (demo, local-aws, dev) may start the local stack.
MAY_IMPORT_LOCAL = {"cli.py", "devserver.py"}
DOMAIN = ["dynamodb", "tables", "sql", "summaries", "athena"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_production_modules_never_import_the_local_stack():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "local" or rel.name in MAY_IMPORT_LOCAL and len(rel.parts) == 1:
            continue
        if any(
            m == "ddb_assets.local" or m.startswith("ddb_assets.local.") for m in _imports(path)
        ):
            offenders.append(str(rel))
    assert offenders == []


def test_domain_code_is_free_of_dagster():
    offenders = [
        str(p.relative_to(PKG))
        for d in DOMAIN
        for p in (PKG / d).rglob("*.py")
        if any(m == "dagster" or m.startswith("dagster.") for m in _imports(p))
    ]
    assert offenders == []


def test_loading_the_code_location_imports_neither_the_local_stack_nor_boto_clients():
    code = (
        "import sys, ddb_assets.definitions as d\n"
        "from ddb_assets.config import load_config\n"
        "d.build_definitions(load_config('ddb_assets.yaml'), env='local')\n"
        "print(sorted(m for m in sys.modules if m.startswith('ddb_assets.local') or m == 'moto'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PKG.parent, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
