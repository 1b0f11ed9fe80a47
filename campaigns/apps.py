from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = gettext_lazy("Campaigns and audience")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate

        from .audit import register_models

        register_models()
        post_migrate.connect(_roles_ensure, sender=self)
        post_delete.connect(_draft_media_discard, sender="campaigns.Draft")


def _draft_media_discard(sender, instance, **kwargs) -> None:
    """A deleted draft's stored file goes too, once the deletion commits (a draft a campaign
    uses cannot be deleted: the campaign protects it)."""
    if instance.media:
        from .services.media import discard_on_commit

        discard_on_commit(instance.media.name)


def _roles_ensure(sender, **kwargs) -> None:
    """After migrate or flush (which a transactional test runs), the four roles exist again."""
    from django.apps import apps as global_apps

    from .roles import roles_ensure

    apps = kwargs.get("apps") or global_apps
    if apps.is_installed("django.contrib.auth") and apps.is_installed("auditlog") and apps.is_installed("axes"):
        roles_ensure(apps=apps)
