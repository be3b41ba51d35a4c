from django.contrib.auth.models import Group

from orders import roles


def test_migrate_creates_the_desk_roles_with_their_permissions(db):
    managers = Group.objects.get(name=roles.MANAGERS)
    codenames = set(managers.permissions.values_list("codename", flat=True))
    assert {"approve_order", "cancel_order", "view_order"} <= codenames
    clerks = Group.objects.get(name=roles.CLERKS)
    assert "approve_order" not in set(clerks.permissions.values_list("codename", flat=True))
