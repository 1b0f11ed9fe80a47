"""The roles get the permissions of the channel-post models (brand channels, posts, their
publications and subscriber samples).

Migration 0008 made the groups before these models existed, and roles_ensure only creates
missing groups; this gives the existing groups what campaigns/roles.py lists for them (a group
an operator renamed or deleted is left alone, as in 0010).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Marketer": ("view_brandchannel", "view_post", "add_post", "change_post", "delete_post", "schedule_post",
                 "view_publication", "view_channelsample"),
    "Approver": ("view_brandchannel", "view_post", "add_post", "change_post", "delete_post", "schedule_post",
                 "view_publication", "view_channelsample"),
    "Analyst": ("view_brandchannel", "view_post", "view_publication", "view_channelsample"),
    "Operator": ("view_brandchannel", "add_brandchannel", "change_brandchannel", "delete_brandchannel",
                 "view_post", "view_publication", "view_channelsample"),
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
    dependencies = [("campaigns", "0015_brand_channels_posts")]

    operations = [migrations.RunPython(grant, revoke)]
