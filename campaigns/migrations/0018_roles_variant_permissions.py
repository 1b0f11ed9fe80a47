"""The roles get the permissions of campaign variants (A/B tests and VIP offers per group).

Migration 0008 made the groups before this model existed, and roles_ensure only creates
missing groups; this gives the existing groups what campaigns/roles.py lists for them (a group
an operator renamed or deleted is left alone, as in 0010).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VARIANT = ("view_campaignvariant", "add_campaignvariant", "change_campaignvariant", "delete_campaignvariant")
GRANTS = {
    "Marketer": VARIANT,
    "Approver": VARIANT,
    "Analyst": ("view_campaignvariant",),
    "Operator": ("view_campaignvariant",),
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = getattr(app_config, "models_module", None) or True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns",
                                                             codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*group.permissions.filter(codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0017_campaign_kinds_counts")]

    operations = [migrations.RunPython(grant, revoke)]
