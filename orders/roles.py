"""The roles of the desk as Django groups, with their permissions.

Created after every migrate (idempotently), so a fresh database, the test
database and production all have them without a seed.
"""
from __future__ import annotations

CLERKS = "Clerks"
MANAGERS = "Managers"
SENIOR_MANAGERS = "Senior managers"
# The users intake API keys act as: submit orders, follow them, cancel them.
STOREFRONTS = "Storefronts"
# Read the whole trail through the audit export (approvals/audit.py), and the
# orders it names (the list is where a login lands); decide and change nothing.
AUDITORS = "Auditors"

# What a manager reads in the admin around an order: its lines, ledgers and trail.
ORDER_RECORDS_VIEW = [
    "orders.view_orderline", "orders.view_orderevent", "orders.view_paymenttransaction", "orders.view_stockreservation",
    "orders.view_customernotification", "orders.view_product", "orders.view_customer", "approvals.view_approvaldecision",
    "approvals.view_approvalpolicy",
]
ROLE_PERMISSIONS = {
    CLERKS: ["orders.view_order", "orders.add_order", "orders.change_order", "orders.view_product", "orders.view_customer"],
    MANAGERS: ["orders.view_order", "orders.change_order", "orders.approve_order", "orders.cancel_order", *ORDER_RECORDS_VIEW],
    SENIOR_MANAGERS: [
        "orders.view_order", "orders.change_order", "orders.approve_order", "orders.cancel_order", *ORDER_RECORDS_VIEW,
        # Satisfies a policy's "at least one senior approver"; may tune the policies.
        "approvals.approve_senior", "approvals.view_approvalpolicy", "approvals.add_approvalpolicy",
        "approvals.change_approvalpolicy", "approvals.view_approvalnotice",
    ],
    STOREFRONTS: ["orders.view_order", "orders.add_order", "orders.cancel_order"],
    AUDITORS: ["orders.view_order", "approvals.export_audit", "approvals.view_auditexport"],
}


def ensure_roles(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*wanted)
