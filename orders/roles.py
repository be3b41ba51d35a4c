"""The roles of the desk as Django groups, with their permissions.

Created after every migrate (idempotently), so a fresh database, the test
database and production all have them without a seed.
"""
from __future__ import annotations

from django.contrib.auth.models import Group, Permission

CLERKS = "Clerks"
MANAGERS = "Managers"
SENIOR_MANAGERS = "Senior managers"
# The users intake API keys act as: submit orders, follow them, cancel them.
STOREFRONTS = "Storefronts"
# Read the whole trail through the audit export (approvals/audit/export.py), and the
# orders it names (the list is where a login lands); decide and change nothing.
AUDITORS = "Auditors"
# Credit review: raise a customer's credit limit (the Customer admin; staff
# status needed there) or cancel an order held over it.
FINANCE = "Finance"
# Erase a customer's personal data (orders/privacy/): the Customer admin's
# action (staff status needed there) and `manage.py erase_customer`.
DATA_PROTECTION = "Data protection"

# What a manager reads in the admin around an order: its lines, ledgers and trail.
ORDER_RECORDS_VIEW = [
    "orders.view_orderline", "orders.view_orderevent", "orders.view_paymenttransaction", "orders.view_stockreservation",
    "orders.view_customernotification", "orders.view_product", "orders.view_customer", "approvals.view_approvaldecision",
    "approvals.view_approvalpolicy", "orders.view_recordedintent",
]
ROLE_PERMISSIONS = {
    CLERKS: ["orders.view_order", "orders.add_order", "orders.change_order", "orders.view_product", "orders.view_customer"],
    # Managers see the customers' data on the desk already; in the Temporal UI too (staff only, codec_server.py).
    MANAGERS: [
        "orders.view_order", "orders.change_order", "orders.approve_order", "orders.cancel_order", *ORDER_RECORDS_VIEW,
        "orders.view_decoded_payloads",
    ],
    SENIOR_MANAGERS: [
        "orders.view_order", "orders.change_order", "orders.approve_order", "orders.cancel_order", *ORDER_RECORDS_VIEW,
        "orders.view_decoded_payloads",
        # Satisfies a policy's "at least one senior approver"; may tune the policies.
        "approvals.approve_senior", "approvals.view_approvalpolicy", "approvals.add_approvalpolicy",
        "approvals.change_approvalpolicy", "approvals.view_approvalnotice",
        # Pause and resume fulfilment from the operations page (a warehouse outage).
        "orders.pause_fulfilment",
    ],
    STOREFRONTS: ["orders.view_order", "orders.add_order", "orders.cancel_order"],
    AUDITORS: ["orders.view_order", "approvals.export_audit", "approvals.view_auditexport", "orders.view_recordedintent"],
    FINANCE: ["orders.view_order", "orders.cancel_order", "orders.view_customer", "orders.change_customer", "orders.view_orderevent",
              "orders.view_paymenttransaction"],
    DATA_PROTECTION: ["orders.view_order", "orders.view_customer", "orders.erase_customer", "orders.view_customererasure",
                      "orders.view_customerdatakey"],
}


def ensure_roles(**kwargs) -> None:
    """Create the groups and give them their permissions; never takes one away.

    post_migrate runs this once per installed app (the roles need other apps'
    permissions), and a transactional test's flush sends post_migrate again:
    so it costs three queries when everything is in place, not one per permission.
    """
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    existing = Permission.objects.filter(
        content_type__app_label__in={perm.split(".")[0] for perm in wanted},
        codename__in={perm.split(".")[1] for perm in wanted},
    ).values_list("content_type__app_label", "codename", "pk")
    # Permissions of apps not migrated yet are missing here; a later app's signal adds them.
    perm_ids = {f"{app_label}.{codename}": pk for app_label, codename, pk in existing}
    groups = {group.name: group for group in Group.objects.filter(name__in=ROLE_PERMISSIONS)}
    for name in ROLE_PERMISSIONS.keys() - groups.keys():
        groups[name] = Group.objects.create(name=name)
    Link = Group.permissions.through
    linked = set(Link.objects.filter(group__in=groups.values()).values_list("group_id", "permission_id"))
    missing = {
        (groups[name].pk, perm_ids[perm]) for name, perms in ROLE_PERMISSIONS.items() for perm in perms if perm in perm_ids
    } - linked
    Link.objects.bulk_create([Link(group_id=g, permission_id=p) for g, p in sorted(missing)], ignore_conflicts=True)
