"""The four roles every installation starts with, as groups with their permissions.

Created by migration 0008 and again after any flush or migrate where one is missing (as
Django recreates permissions), so that a test database flushed between tests, or an
operator who deleted a group by mistake, finds them back. A group that exists is left as
the operator edited it.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

MODEL_ACTIONS = ("view", "add", "change", "delete")

AUDIENCE = {
    "campaigns.subscriber": MODEL_ACTIONS,
    "campaigns.subscription": ("view", "add", "change"),
    "campaigns.tag": MODEL_ACTIONS,
    "campaigns.segment": MODEL_ACTIONS,
    "campaigns.draft": MODEL_ACTIONS,
    "campaigns.campaign": MODEL_ACTIONS,
    "campaigns.consentevent": ("view",),
    "campaigns.delivery": ("view",),
    "campaigns.sendlist": ("view",),
    "campaigns.importjob": ("view", "add"),
    "campaigns.frequencypolicy": ("view",),
    "campaigns.testsend": ("view", "add"),  # add: may send a test to the testers
    "campaigns.whatsapptemplate": ("view", "change"),  # change: may sync them now
    "campaigns.couponcode": ("view", "add"),  # add: may upload codes to a campaign's pool
    "campaigns.brandchannel": ("view",),  # operators add the brand's channels
    "campaigns.post": ("view", "add", "change", "delete"),
    "campaigns.publication": ("view",),
    "campaigns.channelsample": ("view",),
    "campaigns.campaignvariant": MODEL_ACTIONS,
    "campaigns.senderaccount": ("view",),  # a campaign picks its account; operators keep them
}
MARKETER_EXTRA = ["campaigns.import_subscribers", "campaigns.opt_out_subscription", "campaigns.schedule_campaign",
                  "campaigns.view_address", "campaigns.schedule_post"]
APPROVER_EXTRA = ["campaigns.approve_campaign", "campaigns.pause_campaign", "campaigns.cancel_campaign"]
ANALYST = {
    "campaigns.campaign": ("view",),
    "campaigns.delivery": ("view",),
    "campaigns.sendlist": ("view",),
    "campaigns.segment": ("view",),
    "campaigns.draft": ("view",),
    "campaigns.subscriber": ("view",),
    "campaigns.subscription": ("view",),
    "campaigns.tag": ("view",),
    "campaigns.frequencypolicy": ("view",),
    "campaigns.testsend": ("view",),
    "campaigns.whatsapptemplate": ("view",),
    "campaigns.couponcode": ("view",),
    "campaigns.brandchannel": ("view",),
    "campaigns.post": ("view",),
    "campaigns.publication": ("view",),
    "campaigns.channelsample": ("view",),
    "campaigns.campaignvariant": ("view",),
    "campaigns.senderaccount": ("view",),
}
OPERATOR = {
    "campaigns.frequencypolicy": ("view", "change"),
    "campaigns.installationsettings": ("view", "change"),
    "campaigns.subscriber": ("view",),
    "campaigns.subscription": ("view",),
    "campaigns.consentevent": ("view",),
    "campaigns.campaign": ("view",),
    "campaigns.delivery": ("view",),
    "campaigns.sendlist": ("view",),
    "campaigns.segment": ("view",),
    "campaigns.draft": ("view",),
    "campaigns.tag": ("view",),
    "campaigns.importjob": ("view",),
    "campaigns.testsend": ("view",),
    "campaigns.whatsapptemplate": ("view", "change"),
    "campaigns.brandchannel": MODEL_ACTIONS,
    "campaigns.post": ("view",),
    "campaigns.publication": ("view",),
    "campaigns.channelsample": ("view",),
    "campaigns.campaignvariant": ("view",),
    "campaigns.senderaccount": MODEL_ACTIONS,
    "tact_channels.outboxmessage": ("view",),
    "tact_channels.pendingupdate": ("view",),
    "auth.user": MODEL_ACTIONS,
    "auth.group": ("view",),
    "authtoken.token": ("view", "delete"),
    "authtoken.tokenproxy": ("view", "delete"),
    "auditlog.logentry": ("view",),
    "axes.accessattempt": ("view", "delete"),
    "axes.accessfailurelog": ("view",),
    "axes.accesslog": ("view",),
}
OPERATOR_EXTRA = ["campaigns.erase_subscriber", "campaigns.export_subscriber", "campaigns.view_address",
                  "campaigns.view_system_status"]


def _expand(table: dict[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    for label, actions in table.items():
        app, model = label.split(".")
        out += [f"{app}.{action}_{model}" for action in actions]
    return out


ROLES = {
    "Marketer": _expand(AUDIENCE) + MARKETER_EXTRA,
    "Approver": _expand(AUDIENCE) + MARKETER_EXTRA + APPROVER_EXTRA,
    "Analyst": _expand(ANALYST),
    "Operator": _expand(OPERATOR) + OPERATOR_EXTRA,
}


def roles_ensure(*, apps: Apps = global_apps) -> list[str]:
    """Create each missing role group with its starting permissions; returns the names made."""
    # Permissions are made after migrations; these ones are needed now.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    made = []
    for name, perms in ROLES.items():
        group, created = Group.objects.get_or_create(name=name)
        if not created:
            continue
        made.append(name)
        found = []
        for perm in perms:
            app_label, codename = perm.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None and apps is not global_apps:
                continue  # a migration before the model existed: a later migration grants it
            if permission is None:
                raise LookupError(f"role {name}: no permission {perm}")
            found.append(permission)
        group.permissions.add(*found)
    return made
