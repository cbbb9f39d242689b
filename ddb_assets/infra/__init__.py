"""Production infrastructure generated from the project config (``ddb-assets infra``) and
the pre-flight checks of a configured environment (``ddb-assets doctor``).

Plain functions, free of Dagster: :mod:`.layout` (what the chain touches),
:mod:`.policy` (the least-privilege IAM policy), :mod:`.template` (the CloudFormation
template), :mod:`.doctor` (the checks).
"""

from ddb_assets.infra.layout import InfraError, Layout, S3Location, layout
from ddb_assets.infra.policy import policy_document, render
from ddb_assets.infra.template import InfraOptions, build_template, one_time_steps, to_yaml

__all__ = [
    "InfraError",
    "InfraOptions",
    "Layout",
    "S3Location",
    "build_template",
    "layout",
    "one_time_steps",
    "policy_document",
    "render",
    "to_yaml",
]
