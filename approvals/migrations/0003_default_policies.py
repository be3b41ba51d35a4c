"""Seed the default approval policies (once; admins edit them afterwards).

Below 500: approved automatically. 500 to below 10,000: one manager.
10,000 and above: two managers, at least one senior. Undecided orders are
reminded after 24 h, escalated after 36 h and expire after 48 h.
"""
from decimal import Decimal

from django.db import migrations

DEFAULTS = [
    {"name": "Small orders", "min_total": Decimal("0"), "max_total": Decimal("500"), "auto_approve": True},
    {"name": "Standard orders", "min_total": Decimal("500"), "max_total": Decimal("10000"), "approvals_required": 1},
    {"name": "Large orders", "min_total": Decimal("10000"), "max_total": None, "approvals_required": 2, "requires_senior": True},
]
TIMES = {"remind_after_hours": Decimal("24"), "escalate_after_hours": Decimal("36"), "expire_after_hours": Decimal("48")}


def seed(apps, schema_editor):
    ApprovalPolicy = apps.get_model("approvals", "ApprovalPolicy")
    if ApprovalPolicy.objects.exists():
        return
    for policy in DEFAULTS:
        ApprovalPolicy.objects.create(**TIMES, **policy)


def unseed(apps, schema_editor):
    ApprovalPolicy = apps.get_model("approvals", "ApprovalPolicy")
    ApprovalPolicy.objects.filter(name__in=[p["name"] for p in DEFAULTS], customer__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0002_policies_notices_senior")]
    operations = [migrations.RunPython(seed, unseed)]
