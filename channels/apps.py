from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    label = "tact_channels"
    verbose_name = "Channels"
