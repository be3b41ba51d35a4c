"""Worker versioning: the version a worker announces, and the rollout steps on its deployment.

A versioned worker belongs to the Worker Deployment TEMPORAL_DEPLOYMENT_NAME
("order-desk") with a build id; Temporal starts new runs on the deployment's
*current* version (or a ramped share on a *ramping* one), keeps pinned runs on
the version they started on, and moves auto-upgrading runs to the current
version at their next workflow task (temporal_bridge/runtime/versioned_workflows.py
says which workflow is which).

The build id is ORDER_DESK_BUILD_ID when set, else a digest of the workflow
code: the modules defining the desk's workflows and every project module they
import, found by reading their imports. So two workers agree on their version
exactly when they would run the same workflow code, a change to an activity or
a view alone is no new version (activities need none: they are not replayed),
and no git checkout is needed where the worker runs (an image, a wheel).

The deployment calls wrap the WorkflowService RPCs (the Python SDK has no
higher-level client for them); `manage.py deployment` is their command line.
"""
from __future__ import annotations

import ast
import asyncio
import hashlib
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge.runtime.versioned_workflows import VERSIONED_WORKFLOWS
from temporal_bridge.runtime.worker import WORKFLOWS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DeploymentError(Exception):
    """A rollout step Temporal refused, in words for an operator."""


# --- The version a worker announces ---------------------------------------------------


def workflow_sources() -> list[Path]:
    """The workflow modules and every project module they import, transitively."""
    todo = [Path(sys.modules[cls.__module__].__file__).resolve() for cls in [*WORKFLOWS, *VERSIONED_WORKFLOWS]]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_project_imports(path))
    return sorted(seen)


def _project_imports(path: Path) -> list[Path]:
    """Files under the project that `path` imports (with the packages they sit in)."""
    package = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this file is in
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` names a module; `from module import name` does not.
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    found = []
    for name in names:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # the packages on the way, then the module itself
            candidate = PROJECT_ROOT.joinpath(*parts[:depth])
            for file in (candidate / "__init__.py", candidate.with_suffix(".py")):
                if file.is_file():
                    found.append(file.resolve())
    return found


@lru_cache(maxsize=1)
def source_build_id() -> str:
    """The digest of this checkout's workflow sources."""
    return sources_digest(workflow_sources(), PROJECT_ROOT)


def sources_digest(paths: list[Path], root: Path) -> str:
    """12 hex digits of SHA-256 over the files' paths (relative to `root`) and contents."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_id() -> str:
    """The build id this code announces: ORDER_DESK_BUILD_ID, else the digest of the workflow code."""
    return settings.ORDER_DESK_BUILD_ID or source_build_id()


def worker_version(build: str | None = None, *, deployment_name: str | None = None) -> WorkerDeploymentVersion:
    name = deployment_name or settings.TEMPORAL_DEPLOYMENT_NAME
    build = build or build_id()
    # The canonical form is "<name>.<build id>": a dot in the name would make it ambiguous.
    if "." in name:
        raise DeploymentError(f"The deployment name {name!r} must not contain a dot.")
    return WorkerDeploymentVersion(deployment_name=name, build_id=build)


# --- The deployment's state and the rollout steps --------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    build_id: str
    status: str  # inactive, current, ramping, draining, drained
    drainage: str  # draining / drained once no longer current or ramping, else ""


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    current_build_id: str  # "" while new runs go to unversioned workers
    ramping_build_id: str
    ramping_percent: float
    versions: list[VersionSummary]

    def version(self, build: str) -> VersionSummary | None:
        return next((v for v in self.versions if v.build_id == build), None)


def _enum_word(value: str, prefix: str) -> str:
    word = value.removeprefix(prefix).lower() if value.startswith(prefix) else ""
    return "" if word == "unspecified" else word


async def describe(client: Client, name: str) -> DeploymentStatus | None:
    """The deployment's routing and versions; None before any versioned worker of it has polled."""
    try:
        response = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name),
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = response.worker_deployment_info
    routing = info.routing_config
    versions = []
    for summary in info.version_summaries:
        versions.append(VersionSummary(
            build_id=summary.deployment_version.build_id,
            status=_enum_word(WorkerDeploymentVersionStatus.Name(summary.status), "WORKER_DEPLOYMENT_VERSION_STATUS_"),
            drainage=_enum_word(VersionDrainageStatus.Name(summary.drainage_status), "VERSION_DRAINAGE_STATUS_"),
        ))
    return DeploymentStatus(
        name=info.name,
        current_build_id=routing.current_deployment_version.build_id,
        ramping_build_id=routing.ramping_deployment_version.build_id,
        ramping_percent=routing.ramping_version_percentage,
        versions=sorted(versions, key=lambda v: v.build_id),
    )


async def set_current(client: Client, name: str, build: str, *, identity: str) -> str:
    """Make `build` the version new runs start on; returns the previous current build id ("" = unversioned)."""
    try:
        response = await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(namespace=client.namespace, deployment_name=name, build_id=build, identity=identity),
        )
    except RPCError as err:
        raise _refused(err, name, build) from err
    return response.previous_deployment_version.build_id


async def set_ramping(client: Client, name: str, build: str, percent: float, *, identity: str) -> None:
    """Send `percent` of new runs to `build` (the rest to the current version); build "" stops the ramp."""
    if not 0 <= percent <= 100:
        raise DeploymentError("A ramp is a percentage from 0 to 100.")
    try:
        await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace, deployment_name=name, build_id=build, percentage=percent if build else 0, identity=identity,
            ),
        )
    except RPCError as err:
        raise _refused(err, name, build) from err


def _refused(err: RPCError, name: str, build: str) -> DeploymentError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return DeploymentError(f"Temporal knows no version {name}.{build}: start a worker with that build id first ({err.message}).")
    if err.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.ALREADY_EXISTS):
        return DeploymentError(f"Temporal refused the change to {name}.{build}: {err.message}")
    return DeploymentError(f"Temporal did not make the change ({err.status.name if err.status else 'error'}): {err.message}")


async def wait_until_registered(client: Client, name: str, build: str, *, timeout: float = 30.0) -> DeploymentStatus:
    """Until Temporal lists version `build` of `name` (its workers' first polls register it)."""
    deadline = time.monotonic() + timeout
    while True:
        status = await describe(client, name)
        if status is not None and status.version(build) is not None:
            return status
        if time.monotonic() > deadline:
            raise DeploymentError(f"No worker of version {name}.{build} has polled Temporal within {timeout:g}s.")
        await asyncio.sleep(0.2)
