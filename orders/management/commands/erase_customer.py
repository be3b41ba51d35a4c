"""manage.py erase_customer <id> --reason ... --as <user> [--stop-running]: the right to be forgotten.

Destroys the customer's data key, replaces their personal data in the mirror
by "Erased customer <id>" and records the erasure, in one transaction
(orders/privacy/services.py). Refused while one of their orders runs; with
--stop-running those orders are cancelled first (with compensation, as a
person's cancel, so `--as` needs the cancel permission too) and the erasure
waits for them to end (and for their workflows to complete: an order counts as
running for two minutes after its final state). Running it again is a no-op that says so.
Exit 0 when erased (now or before), 1 when refused.
"""
from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from orders import services
from orders.exceptions import OrderError
from orders.privacy.services import ErasureRefused, customer_erase, running_orders
from temporal_bridge.order import states


class Command(BaseCommand):
    help = "Erase a customer's personal data (crypto-shredding): refused while their orders run unless --stop-running."

    def add_arguments(self, parser):
        parser.add_argument("customer_id", type=int)
        parser.add_argument("--reason", required=True, help="Why: the request's reference or the rule (no personal data).")
        parser.add_argument("--as", dest="username", required=True,
                            help="The user erasing, who needs the orders.erase_customer permission (the Data protection group).")
        parser.add_argument("--stop-running", action="store_true",
                            help="Cancel the customer's running orders first (with compensation) and wait for them to end.")
        parser.add_argument("--wait", type=float, default=300.0,
                            help="With --stop-running: at most this many seconds (default: %(default)s).")

    def handle(self, *args, customer_id: int, reason: str, username: str, stop_running: bool, wait: float, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if not user.has_perm("orders.erase_customer"):
            raise CommandError(f"{username} may not erase customers (the Data protection group has the permission). Nothing was erased.")
        if stop_running:
            self._stop_running(customer_id, user, reason, wait)
        try:
            outcome = customer_erase(customer_id=customer_id, actor=user, reason=reason)
        except (ErasureRefused, PermissionDenied) as err:
            raise CommandError(getattr(err, "message", str(err))) from err
        self.stdout.write(outcome.message)

    def _stop_running(self, customer_id: int, user, reason: str, wait: float) -> None:
        running = running_orders(customer_id)
        for order in running:
            if order.status not in states.CANCELLABLE:
                self.stderr.write(f"  {order}: {order.get_status_display().lower()}, no longer cancellable; waiting for it to end")
                continue
            try:
                verdict = services.order_request_cancel(order=order, user=user, reason=f"Erasure: {reason}",
                                                        request_id=services.new_request_id())
            except (OrderError, PermissionDenied) as err:
                why = str(getattr(err, "message", err)).rstrip(".")
                raise CommandError(f"{order}: not cancelled ({why}; --stop-running cancels as --as, who needs "
                                   f"orders.cancel_order too). Nothing was erased.") from err
            self.stdout.write(f"  {order}: cancel {verdict.status}")
        deadline = time.monotonic() + wait
        while running and time.monotonic() < deadline:
            time.sleep(1.0)
            running = running_orders(customer_id)
        if running:
            raise CommandError(f"{len(running)} order(s) still running after {wait:.0f} s ({', '.join(map(str, running))}). "
                               "Nothing was erased; run it again once they have ended.")
