"""The marketer's workplace: audience, consent proof, segments, drafts, campaigns, ledger."""

from django.contrib import admin

from . import accounts, audience, audit, campaigns, content, imports  # noqa: F401  (each registers its pages)

admin.site.site_header = "Tact"
admin.site.site_title = "Tact"
admin.site.index_title = "Campaigns for people who asked for them"
