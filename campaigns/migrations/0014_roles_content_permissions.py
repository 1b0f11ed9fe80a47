"""The roles get the permissions of the content issue's models (test sends, WhatsApp templates,
coupon codes).

Migration 0008 made the groups before these models existed, and roles_ensure only creates
missing groups; this gives the existing groups what campaigns/roles.py lists for them (a group
an operator renamed or deleted is left alone, as in 0010).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Marketer": ("view_testsend", "add_testsend", "view_whatsapptemplate", "change_whatsapptemplate",
                 "view_couponcode", "add_couponcode"),
    "Approver": ("view_testsend", "add_testsend", "view_whatsapptemplate", "change_whatsapptemplate",
                 "view_couponcode", "add_couponcode"),
    "Analyst": ("view_testsend", "view_whatsapptemplate", "view_couponcode"),
    "Operator": ("view_testsend", "view_whatsapptemplate", "change_whatsapptemplate"),
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
    dependencies = [("campaigns", "0013_content_media_clicks_coupons_tests_templates")]

    operations = [migrations.RunPython(grant, revoke)]
