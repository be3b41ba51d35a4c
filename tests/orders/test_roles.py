from django.contrib.auth.models import Group, Permission

from orders import roles


def test_migrate_creates_the_desk_roles_with_their_permissions(db):
    managers = Group.objects.get(name=roles.MANAGERS)
    codenames = set(managers.permissions.values_list("codename", flat=True))
    assert {"approve_order", "cancel_order", "view_order"} <= codenames
    clerks = Group.objects.get(name=roles.CLERKS)
    assert "approve_order" not in set(clerks.permissions.values_list("codename", flat=True))


def role_permissions() -> dict[str, set[str]]:
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        for group in Group.objects.filter(name__in=roles.ROLE_PERMISSIONS)
    }


def test_every_role_has_exactly_its_listed_permissions(db):
    assert role_permissions() == {name: set(perms) for name, perms in roles.ROLE_PERMISSIONS.items()}


def test_ensure_roles_restores_what_is_missing_keeps_what_an_admin_added_and_is_cheap_when_nothing_is(
    db, django_assert_max_num_queries,
):
    managers = Group.objects.get(name=roles.MANAGERS)
    managers.permissions.remove(Permission.objects.get(codename="approve_order"))
    managers.permissions.add(Permission.objects.get(codename="delete_order"))  # given by hand in the admin
    Group.objects.get(name=roles.AUDITORS).delete()

    roles.ensure_roles()

    expected = {name: set(perms) for name, perms in roles.ROLE_PERMISSIONS.items()}
    expected[roles.MANAGERS].add("orders.delete_order")
    assert role_permissions() == expected
    # post_migrate runs it once per app, and again after every transactional test's flush.
    with django_assert_max_num_queries(3):
        roles.ensure_roles()
