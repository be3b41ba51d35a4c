"""manage.py deployment: the steps of a versioned rollout, without the CLI's syntax to remember.

    manage.py deployment status               routing and versions (what the UI's Deployments page shows)
    manage.py deployment build-id             the build id this code announces (tag an image with it)
    manage.py deployment set-current BUILD    new runs start on BUILD; pinned runs stay where they are
    manage.py deployment ramp BUILD PERCENT   PERCENT of new runs on BUILD, the rest on the current one
    manage.py deployment ramp --stop          end the ramp

docs/deployment.md, "Rolling out new workflow code", puts them in order.
"""
from __future__ import annotations

import asyncio
import getpass
import socket

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from temporalio.client import Client
from temporalio.service import RPCError

from temporal_bridge.client.connection import connect_kwargs
from temporal_bridge.runtime import versioning


class Command(BaseCommand):
    help = "Show a worker deployment's versions, or move new runs to a version (set-current, ramp)."

    def add_arguments(self, parser):
        parser.add_argument("--deployment-name", default=settings.TEMPORAL_DEPLOYMENT_NAME, help="Deployment (default: %(default)s).")
        parser.add_argument("--address", default=settings.TEMPORAL_ADDRESS, help="Temporal frontend host:port (default: %(default)s).")
        steps = parser.add_subparsers(dest="step", metavar="{status,build-id,set-current,ramp}")
        steps.add_parser("status", help="Current and ramping versions, and each version's state.")
        steps.add_parser("build-id", help="The build id this code announces.")
        current = steps.add_parser("set-current", help="Start new runs on BUILD_ID.")
        current.add_argument("build_id")
        ramp = steps.add_parser("ramp", help="Start PERCENT of new runs on BUILD_ID (or --stop).")
        ramp.add_argument("build_id", nargs="?", default="")
        ramp.add_argument("percent", nargs="?", type=float)
        ramp.add_argument("--stop", action="store_true", help="End the ramp: all new runs on the current version.")

    def handle(self, *args, **options):
        step = options.get("step") or "status"
        if step == "build-id":
            self.stdout.write(versioning.build_id())
            return
        if step == "ramp" and not options["stop"] and (not options["build_id"] or options["percent"] is None):
            raise CommandError("ramp needs BUILD_ID PERCENT (or --stop).")
        try:
            kwargs = connect_kwargs()
        except ImproperlyConfigured as err:
            raise CommandError(f"Cannot connect to Temporal: {err}") from err
        try:
            asyncio.run(self._run(step, options, kwargs))
        except versioning.DeploymentError as err:
            raise CommandError(str(err)) from err
        except RPCError as err:
            raise CommandError(f"Temporal did not answer: {err.message}") from err
        except RuntimeError as err:  # connection refused surfaces as RuntimeError from the core SDK
            raise CommandError(f"Cannot reach Temporal at {options['address']}: {err}") from err

    async def _run(self, step: str, options: dict, kwargs: dict) -> None:
        client = await Client.connect(options["address"], **kwargs)
        name = options["deployment_name"]
        identity = f"manage.py deployment ({getpass.getuser()}@{socket.gethostname()})"
        if step == "set-current":
            previous = await versioning.set_current(client, name, options["build_id"], identity=identity)
            self.stdout.write(f"New runs now start on {name}.{options['build_id']} (was {previous or 'unversioned workers'}).")
            self.stdout.write("Pinned runs finish on the version they started on: keep its workers until `status` says drained.")
        elif step == "ramp":
            build, percent = ("", 0.0) if options["stop"] else (options["build_id"], options["percent"])
            await versioning.set_ramping(client, name, build, percent, identity=identity)
            self.stdout.write(f"Ramp ended on {name}." if not build else f"{percent:g}% of new runs now start on {name}.{build}.")
        self._status(await versioning.describe(client, name), name)

    def _status(self, status: versioning.DeploymentStatus | None, name: str) -> None:
        mine = versioning.build_id()
        if status is None:
            self.stdout.write(f"Deployment {name}: no versioned worker has polled yet. This code's build id: {mine}.")
            return
        ramp = f"{status.ramping_build_id} at {status.ramping_percent:g}%" if status.ramping_build_id else "none"
        self.stdout.write(f"Deployment {name}")
        self.stdout.write(f"  current: {status.current_build_id or 'unversioned workers'}")
        self.stdout.write(f"  ramping: {ramp}")
        self.stdout.write("  versions:")
        for v in status.versions:
            note = " (this code)" if v.build_id == mine else ""
            drainage = f", {v.drainage}" if v.drainage and v.drainage != v.status else ""
            self.stdout.write(f"    {v.build_id}: {v.status}{drainage}{note}")
