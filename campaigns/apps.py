from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns and audience"

    def ready(self) -> None:
        from .audit import register_models

        register_models()
