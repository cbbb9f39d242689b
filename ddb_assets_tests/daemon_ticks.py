"""One tick of Dagster's REAL sensor daemon in a process of its own, killable at a crash point.

Shared by the exactly-once crash tests of both sensors (``test_sensor_crashes.py`` for
DynamoDB, ``test_rds_sensor_crashes.py`` for RDS). Each tick runs the daemon's own
``execute_sensor_iteration`` (as Dagster's daemon tests do) in a child of a fork server, so
SIGKILL at one of the daemon's ``check_for_debug_crash`` points ends it as a crash would.

The fork server is started once per test session, by whichever module ticks first, and its
children inherit ITS environment, not the test's: every tick therefore carries the caller's
whole environment (the local stack's endpoints, ``DDB_ASSETS_ENV``) and replaces its own with
it. Without that, the second module's ticks talk to the first module's (stopped) stack.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

import dagster as dg

# A fork server (single-threaded, with dagster and the daemon preloaded) starts a tick in
# well under a second, instead of several seconds for a spawned interpreter.
SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload(
    [
        "dagster",
        "dagster._daemon.sensor",
        "dagster._core.test_utils",
        "dagster._core.execution.api",
        "dagster._core.launcher.sync_in_memory_run_launcher",
        "ddb_assets.definitions",
        "ddb_assets.tables.duckdb",
        "ddb_assets.dynamodb.manifest",
        "ddb_assets.rds.duckdb_load",
    ]
)

# The daemon's crash points on a tick that requests runs, in the order it passes them.
RUN_CRASH_POINTS = [
    "TICK_CREATED",
    "TICK_HELD",
    "AUTOMATION_EVALUATIONS_ADDED",
    "RUN_IDS_RESERVED",
    "RUN_CREATED",
    "RUN_LAUNCHED",
    "RUN_IDS_ADDED_TO_EVALUATIONS",
]
# A tick without run requests (it only records events) passes only these two.
REPORT_CRASH_POINTS = ["TICK_CREATED", "TICK_HELD"]

# Runs are launched at once (no queue daemon here) and executed for real in the daemon's
# process, so a crash after RUN_LAUNCHED follows a finished load.
SYNC_LAUNCH = {
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    },
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
}


def _daemon_tick(
    instance_ref, environ: dict[str, str], sensor_name: str, when: float, crash_point
) -> None:
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import (
        InProcessTestWorkspaceLoadTarget,
        create_test_daemon_workspace_context,
        freeze_time,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon import get_default_daemon_logger
    from dagster._daemon.sensor import execute_sensor_iteration

    os.environ.clear()
    os.environ.update(environ)
    flags = {sensor_name: {crash_point: signal.SIGKILL}} if crash_point else None
    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            module_name="ddb_assets.definitions", attribute="defs"
        ),
        location_name="ddb_assets",
    )
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        with (
            freeze_time(when),
            create_test_daemon_workspace_context(
                InProcessTestWorkspaceLoadTarget(origin), instance
            ) as ctx,
        ):
            list(
                execute_sensor_iteration(
                    ctx,
                    get_default_daemon_logger("SensorDaemon"),
                    threadpool_executor=None,
                    submit_threadpool_executor=None,
                    debug_crash_flags=flags,
                )
            )


def tick(instance, config_path, sensor_name: str, when: float, crash_point=None) -> int:
    """Run one daemon tick with this process's environment; return the child's exit code."""
    environ = {**os.environ, "DDB_ASSETS_CONFIG": str(config_path)}
    p = SPAWN.Process(
        target=_daemon_tick,
        args=(instance.get_ref(), environ, sensor_name, when, crash_point),
    )
    p.start()
    p.join(timeout=180)
    assert p.exitcode is not None, "the daemon tick hung"
    return p.exitcode
