from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from campaigns import media_views
from campaigns.admin.calendar import calendar_view
from campaigns.admin.my_settings import my_settings_view
from campaigns.admin.system import system_view
from campaigns.api import audience, campaigns
from campaigns.api import brand_channels as api_brand_channels
from campaigns.api import docs as api_docs
from campaigns.api import imports as api_imports
from campaigns.api import posts as api_posts
from campaigns.api import sender_accounts as api_sender_accounts
from campaigns.api import tokens as api_tokens
from campaigns.api import whatsapp_templates as api_whatsapp_templates
from campaigns.ops_views import health_view, metrics_view
from campaigns.redirects import link_redirect
from channels import webhooks


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the web process can reach its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


router = DefaultRouter()
router.register("subscribers", audience.SubscriberViewSet, basename="subscriber")
router.register("segments", audience.SegmentViewSet, basename="segment")
router.register("drafts", campaigns.DraftViewSet, basename="draft")
router.register("campaigns", campaigns.CampaignViewSet, basename="campaign")
router.register("deliveries", campaigns.DeliveryViewSet, basename="delivery")
router.register("imports", api_imports.ImportJobViewSet, basename="importjob")
router.register("whatsapp-templates", api_whatsapp_templates.WhatsAppTemplateViewSet, basename="whatsapptemplate")
router.register("posts", api_posts.PostViewSet, basename="post")
router.register("channels", api_brand_channels.BrandChannelViewSet, basename="brandchannel")
router.register("accounts", api_sender_accounts.SenderAccountViewSet, basename="senderaccount")

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Any staff user's own time zone and language (before the admin's catch-all).
    path("admin/my-settings/", admin.site.admin_view(my_settings_view), name="admin-my-settings"),
    # What /health/ reports, for operators (view_system_status).
    path("admin/system/", admin.site.admin_view(system_view), name="admin-system"),
    # The content calendar (before the post admin's "<id>/" pages).
    path("admin/campaigns/post/calendar/", admin.site.admin_view(calendar_view), name="admin-post-calendar"),
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("api/opt-out/", audience.OptOutView.as_view(), name="opt-out"),
    path("api/auth/token/", api_tokens.TokenView.as_view(), name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs.SwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", api_docs.RedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz/", healthz),
    # The whole system (database, broker, workers per queue, beat, held-up campaigns): 200 or 503.
    path("health/", health_view, name="health"),
    # Prometheus: allowed addresses or the bearer token only (campaigns/ops_views.py).
    path("metrics", metrics_view, name="metrics"),
    # A campaign's media for platforms that fetch it by URL (Viber): signed, no login.
    path("m/<str:token>/<str:name>", media_views.media_file, name="media-public"),
    # Tracked links in messages (no login, no session): campaigns/redirects.py.
    path("r/<str:token>", link_redirect, name="link-redirect"),
    path("webhooks/telegram/", webhooks.telegram, name="webhook-telegram"),
    path("webhooks/whatsapp/", webhooks.whatsapp, name="webhook-whatsapp"),
    path("webhooks/viber/", webhooks.viber, name="webhook-viber"),
    # A sender account's own paths, verified with its own secret (404: no such active account).
    path("webhooks/telegram/<slug:slug>/", webhooks.telegram, name="webhook-telegram-account"),
    path("webhooks/whatsapp/<slug:slug>/", webhooks.whatsapp, name="webhook-whatsapp-account"),
    path("webhooks/viber/<slug:slug>/", webhooks.viber, name="webhook-viber-account"),
]

# JSON instead of Django's HTML error pages under /api/ (config/handlers.py).
handler400 = "config.handlers.bad_request"
handler403 = "config.handlers.permission_denied"
handler404 = "config.handlers.page_not_found"
handler500 = "config.handlers.server_error"
