"""manage.py simulate_providers: the payment provider and the carrier, by webhook.

Watches the database each tick and sends signed webhooks to the web app
(orders.webhooks.simulator): payment confirmations (and a fraud alert for
every Nth order) for payments awaiting the provider, and a parcel's journey
(in transit, out for delivery, delivered) for orders in transit. `make run`
runs it; it survives the web app being down and never stops on a refusal.
"""
from __future__ import annotations

import logging
import signal
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from orders.webhooks import simulator as provider_simulator
from temporal_bridge.order.messages import PROVIDERS

log = logging.getLogger("orders.webhooks.simulator")


class Command(BaseCommand):
    help = "Act as the payment provider and the carrier: send signed webhooks for pending payments and parcels in transit."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", required=True, help="The web app, e.g. http://127.0.0.1:8000")
        parser.add_argument("--tick", type=float, default=2.0, help="Seconds between looks at the database (default: %(default)s).")
        parser.add_argument("--payment-delay", type=float, default=3.0,
                            help="Seconds before a pending payment is confirmed (default: %(default)s).")
        parser.add_argument("--fraud-every", type=int, default=7,
                            help="Every Nth order (by id) awaiting confirmation gets a fraud alert; 0: none (default: %(default)s).")
        parser.add_argument("--parcel-step", type=float, default=10.0,
                            help="Seconds between a parcel's events (default: %(default)s).")
        parser.add_argument("--once", action="store_true", help="One tick, then exit (with zero delays: send everything due now).")

    def handle(self, *args, **options):
        if options["tick"] <= 0 or options["payment_delay"] < 0 or options["parcel_step"] < 0 or options["fraud_every"] < 0:
            raise CommandError("--tick must be positive; --payment-delay, --parcel-step and --fraud-every 0 or more")
        if not options["base_url"].startswith(("http://", "https://")):
            raise CommandError("--base-url must start with http:// or https://")
        for provider in PROVIDERS:
            if not provider_simulator.secret(provider):
                raise CommandError(f"No webhook secret for {provider}: set WEBHOOK_SECRET_{provider.upper()}.")
        simulator = provider_simulator.Simulator(
            payment_delay=options["payment_delay"], fraud_every=options["fraud_every"], parcel_step=options["parcel_step"],
        )
        # Stop at once, even mid-sleep: an event not yet answered is not marked sent, so nothing is lost.
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(f"Simulating the payment provider and the carrier against {options['base_url']}.")
        try:
            self._run(simulator, options)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _run(self, simulator: provider_simulator.Simulator, options: dict) -> None:
        while True:
            try:
                for webhook, status in provider_simulator.tick(simulator, options["base_url"], time.monotonic()):
                    self.stdout.write(f"  {webhook.body['type']:<24} {webhook.body['order']:<12} -> {status}")
            except Exception:  # noqa: BLE001 - a database hiccup is logged; the next tick tries again
                if options["once"]:
                    raise
                log.exception("Simulator tick failed; trying again next tick")
            finally:
                # A long-lived process without a request cycle: no connection may go stale.
                close_old_connections()
            if options["once"]:
                return
            time.sleep(options["tick"])
