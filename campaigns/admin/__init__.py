"""The marketer's workplace: audience, consent proof, segments, drafts, campaigns, ledger."""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from . import (  # noqa: F401  (each registers its pages)
    accounts,
    audience,
    audit,
    brand_channels,
    campaigns,
    content,
    imports,
    posts,
    sender_accounts,
    tester_sends,
    whatsapp_templates,
)

admin.site.site_header = "Tact"
admin.site.site_title = "Tact"
admin.site.index_title = gettext_lazy("Campaigns for people who asked for them")
