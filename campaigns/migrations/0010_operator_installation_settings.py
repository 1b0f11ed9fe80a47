"""The Operator role also edits the installation settings (the default phone region).

Migration 0008 made the groups before InstallationSettings existed; this gives an existing
Operator group the two permissions (a group an operator renamed or deleted is left alone).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = ("view_installationsettings", "change_installationsettings")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = getattr(app_config, "models_module", None) or True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operator = Group.objects.filter(name="Operator").first()
    if operator is not None:
        operator.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns",
                                                            codename__in=PERMISSIONS))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    operator = Group.objects.filter(name="Operator").first()
    if operator is not None:
        operator.permissions.remove(*operator.permissions.filter(codename__in=PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0009_admin_search_settings_profiles")]

    operations = [migrations.RunPython(grant, revoke)]
