from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from campaigns.api import audience, campaigns
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

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("api/opt-out/", audience.OptOutView.as_view(), name="opt-out"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz/", healthz),
    path("webhooks/telegram/", webhooks.telegram, name="webhook-telegram"),
    path("webhooks/whatsapp/", webhooks.whatsapp, name="webhook-whatsapp"),
    path("webhooks/viber/", webhooks.viber, name="webhook-viber"),
]
