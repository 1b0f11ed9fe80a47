"""Channel posts over the API: create, edit until it goes out, schedule (with the content,
channel and cadence checks), cancel; every bad input a 400 naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import BrandChannel, Post, Publication
from tests.conftest import DraftFactory

pytestmark = pytest.mark.django_db

P = Publication.Status


@pytest.fixture
def api(admin_client_api: APIClient) -> APIClient:
    admin_client_api.raise_request_exception = False
    return admin_client_api


def channel(chat: str = "@brand", **fields: object) -> BrandChannel:
    defaults = {"platform": "telegram", "title": chat.strip("@").title(), "can_post": True, "timezone": "UTC",
                "night_start": time(0, 0), "night_end": time(0, 0)}
    fields = {**defaults, **fields}
    return BrandChannel.objects.get_or_create(platform=fields.pop("platform"), chat=chat, defaults=fields)[0]


def tomorrow(hour: int = 12, minute: int = 0) -> datetime:
    day = (timezone.now() + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def create(api: APIClient, **fields: object) -> dict:
    payload = {"name": "Autumn sale", "draft": DraftFactory().pk, "channels": [channel("@main").pk],
               "publish_at": tomorrow().isoformat(), **fields}
    response = api.post("/api/posts/", payload, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_scheduled_post_has_one_planned_publication_per_channel_and_its_content_frozen(api):
    telegram, viber = channel("@brand"), channel("brand-viber", platform="viber", title="Viber")
    draft = DraftFactory(body="Autumn sale\nEverything −30 %")
    post = create(api, draft=draft.pk, channels=[telegram.pk, viber.pk], silent=True, pin=True)
    assert post["status"] == "draft"
    assert post["results"] == {}

    response = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "scheduled"
    assert set(body["results"]) == {str(telegram.pk), str(viber.pk)}
    assert {r["status"] for r in body["results"].values()} == {"planned"}
    saved = Post.objects.get(pk=post["id"])
    assert saved.content_body == "Autumn sale\nEverything −30 %"
    assert saved.content_buttons == [{"text": "Shop", "url": "https://example.com"}]
    rows = Publication.objects.filter(post=saved)
    assert sorted(rows.values_list("channel_id", "publish_after", "silent")) == sorted(
        [(telegram.pk, tomorrow(), True), (viber.pk, tomorrow(), True)])
    verbs = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Post), object_id=saved.pk)
    assert [e.additional_data["verb"] for e in verbs.order_by("pk")] == ["created", "scheduled"]

    # Drafts edited after scheduling do not change what goes out.
    draft.body = "Something else"
    draft.save()
    assert Post.objects.get(pk=post["id"]).content_body == "Autumn sale\nEverything −30 %"


def test_placeholders_are_refused_and_nothing_is_planned(api):
    post = create(api, draft=DraftFactory(body="Hello {{ first_name }}, our sale starts").pk)

    response = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert response.status_code == 400
    assert "placeholders" in " ".join(response.json()["draft"])
    assert Post.objects.get(pk=post["id"]).status == "draft"
    assert not Publication.objects.exists()


def test_a_channel_tact_cannot_post_in_and_a_past_time_are_refused_by_field(api):
    lost = channel("@lost", can_post=False, problem="the bot is not an administrator of the channel")
    post = create(api, channels=[lost.pk], publish_at=(timezone.now() - timedelta(minutes=5)).isoformat())

    response = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert response.status_code == 400
    errors = response.json()
    assert errors["channels"] == ["Tact cannot post in Lost: the bot is not an administrator of the channel"]
    assert "in the past" in errors["publish_at"][0]
    assert not Publication.objects.exists()


def test_a_preview_over_the_platform_limit_is_refused(api):
    post = create(api, draft=DraftFactory(body="A" * 400 + "\nrest").pk)

    response = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert response.status_code == 400
    assert "push preview" in " ".join(response.json()["draft"])


def test_the_cadence_guard_refuses_with_the_next_slot_and_move_takes_it(api):
    brand = channel(min_gap_minutes=120, max_posts_per_day=3)
    first = create(api, channels=[brand.pk], publish_at=tomorrow(12).isoformat())
    assert api.post(f"/api/posts/{first['id']}/schedule/", format="json").status_code == 200
    second = create(api, channels=[brand.pk], publish_at=tomorrow(13).isoformat())

    refused = api.post(f"/api/posts/{second['id']}/schedule/", format="json")

    assert refused.status_code == 400
    message = refused.json()["publish_at"][0]
    assert "within 120 minutes" in message
    assert f"{tomorrow(14):%Y-%m-%d %H:%M}" in message
    assert Post.objects.get(pk=second["id"]).status == "draft"

    moved = api.post(f"/api/posts/{second['id']}/schedule/", {"move": True}, format="json")

    assert moved.status_code == 200, moved.json()
    assert Publication.objects.get(post_id=second["id"]).publish_after == tomorrow(14)


def test_night_hours_with_the_silent_policy_make_that_channel_silent(api):
    night = channel("@night", night_start=time(22, 0), night_end=time(8, 0), night_policy="silent")
    day = channel("@day")
    post = create(api, channels=[night.pk, day.pk], publish_at=tomorrow(23).isoformat())

    assert api.post(f"/api/posts/{post['id']}/schedule/", format="json").status_code == 200

    silent = dict(Publication.objects.filter(post_id=post["id"]).values_list("channel_id", "silent"))
    assert silent == {night.pk: True, day.pk: False}


def test_a_scheduled_post_is_edited_until_it_goes_out(api):
    brand, other = channel("@brand"), channel("@other")
    post = create(api, channels=[brand.pk])
    api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    response = api.patch(f"/api/posts/{post['id']}/",
                         {"publish_at": tomorrow(15).isoformat(), "silent": True, "channels": [other.pk]},
                         format="json")

    assert response.status_code == 200, response.json()
    rows = {p.channel_id: (p.status, p.publish_after, p.silent) for p in Publication.objects.filter(post_id=post["id"])}
    assert rows == {brand.pk: (P.CANCELLED, tomorrow(12), False), other.pk: (P.PLANNED, tomorrow(15), True)}


def test_cancel_before_the_time_cancels_every_planned_publication(api):
    post = create(api)
    api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    response = api.post(f"/api/posts/{post['id']}/cancel/", format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["left"] == {}
    assert set(Publication.objects.filter(post_id=post["id"]).values_list("status", flat=True)) == {P.CANCELLED}


def test_cancel_leaves_a_published_publication_and_says_so(api):
    brand, other = channel("@brand"), channel("@other")
    post = create(api, channels=[brand.pk, other.pk])
    api.post(f"/api/posts/{post['id']}/schedule/", format="json")
    Publication.objects.filter(post_id=post["id"], channel=brand).update(status=P.PUBLISHED, message_id="7")

    response = api.post(f"/api/posts/{post['id']}/cancel/", format="json")

    assert response.json()["left"] == {str(brand.pk): "published"}
    assert dict(Publication.objects.filter(post_id=post["id"]).values_list("channel_id", "status")) == {
        brand.pk: P.PUBLISHED, other.pk: P.CANCELLED}


@pytest.mark.parametrize(("payload", "field"), [
    ({"channels": []}, "channels"),
    ({"channels": [987654]}, "channels"),
    ({"channels": "x"}, "channels"),
    ({"draft": 987654}, "draft"),
    ({"publish_at": "tomorrow"}, "publish_at"),
    ({"silent": "maybe"}, "silent"),
])
def test_bad_input_is_a_400_naming_the_field(api, payload, field):
    base = {"draft": DraftFactory().pk, "channels": [channel().pk], "publish_at": tomorrow().isoformat()}

    response = api.post("/api/posts/", {**base, **payload}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Post.objects.exists()


def test_a_bad_move_and_a_second_schedule_are_400s(api):
    post = create(api)
    bad = api.post(f"/api/posts/{post['id']}/schedule/", {"move": "perhaps"}, format="json")
    assert bad.status_code == 400 and "move" in bad.json()
    assert api.post(f"/api/posts/{post['id']}/schedule/", format="json").status_code == 200

    again = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert again.status_code == 400 and "status" in again.json()
    assert Publication.objects.filter(post_id=post["id"]).count() == 1


def test_scheduling_needs_the_schedule_post_permission(db, django_user_model):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    analyst = django_user_model.objects.create_user("analyst", password="x-secret-123", is_staff=True)
    analyst.groups.add(Group.objects.get(name="Analyst"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=analyst).key}")
    post = Post.objects.create(draft=DraftFactory(), publish_at=tomorrow())
    post.channels.set([channel()])

    assert client.get(f"/api/posts/{post.pk}/").status_code == 200
    assert client.post(f"/api/posts/{post.pk}/schedule/", format="json").status_code == 403
    assert client.post(f"/api/posts/{post.pk}/cancel/", format="json").status_code == 403
    assert Post.objects.get(pk=post.pk).status == "draft"


def test_an_edit_that_breaks_a_rule_changes_nothing_and_a_cancelled_post_is_not_edited(api):
    post = create(api)
    api.post(f"/api/posts/{post['id']}/schedule/", format="json")
    personal = DraftFactory(body="Hi {{ first_name }}\nour sale")

    refused = api.patch(f"/api/posts/{post['id']}/", {"draft": personal.pk, "publish_at": tomorrow(16).isoformat()},
                        format="json")

    assert refused.status_code == 400 and "draft" in refused.json()
    saved = Post.objects.get(pk=post["id"])
    assert (saved.draft_id, saved.publish_at) == (post["draft"], tomorrow(12))
    assert list(Publication.objects.filter(post=saved).values_list("publish_after", flat=True)) == [tomorrow(12)]

    api.post(f"/api/posts/{post['id']}/cancel/", format="json")
    edited = api.patch(f"/api/posts/{post['id']}/", {"silent": True}, format="json")

    assert edited.status_code == 400 and "status" in edited.json()
    assert Post.objects.get(pk=post["id"]).silent is False


def test_odd_requests_are_400s_naming_what_is_wrong_never_500s(api):
    post = create(api)

    as_list = api.post(f"/api/posts/{post['id']}/schedule/", [1, 2], format="json")
    bad_move = api.patch(f"/api/posts/{post['id']}/", {"move": "x", "silent": True}, format="json")
    bad_filter = api.get("/api/posts/?channels=abc")
    far_future = api.patch(f"/api/posts/{post['id']}/", {"publish_at": "9999-12-31T23:59:59Z"}, format="json")
    scheduled_far = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert (as_list.status_code, list(as_list.json())) == (400, ["non_field_errors"])
    assert (bad_move.status_code, list(bad_move.json())) == (400, ["move"])
    assert bad_filter.status_code == 400 and "channels" in bad_filter.json()
    assert far_future.status_code == 200
    assert scheduled_far.status_code == 200
    assert Post.objects.get(pk=post["id"]).silent is False


def test_an_edit_that_leaves_the_time_alone_keeps_the_slot_the_guard_moved_it_to(api):
    brand = channel(min_gap_minutes=120, max_posts_per_day=3)
    first = create(api, channels=[brand.pk], publish_at=tomorrow(12).isoformat())
    api.post(f"/api/posts/{first['id']}/schedule/", format="json")
    second = create(api, channels=[brand.pk], publish_at=tomorrow(13).isoformat())
    api.post(f"/api/posts/{second['id']}/schedule/", {"move": True}, format="json")
    assert Publication.objects.get(post_id=second["id"]).publish_after == tomorrow(14)

    renamed = api.patch(f"/api/posts/{second['id']}/", {"name": "Autumn sale, take two"}, format="json")

    assert renamed.status_code == 200, renamed.json()
    assert Publication.objects.get(post_id=second["id"]).publish_after == tomorrow(14)
    assert Post.objects.get(pk=second["id"]).name == "Autumn sale, take two"

    # A new time is checked as when scheduling: refused with the reason, the slot kept.
    refused = api.patch(f"/api/posts/{second['id']}/", {"publish_at": tomorrow(12, 30).isoformat()}, format="json")

    assert refused.status_code == 400
    assert "within 120 minutes" in refused.json()["publish_at"][0]
    assert Publication.objects.get(post_id=second["id"]).publish_after == tomorrow(14)


def test_a_silent_post_moved_out_of_the_night_only_by_an_edit_that_makes_it_notify(api):
    night = channel("@night", night_start=time(22, 0), night_end=time(8, 0), night_policy="move")
    post = create(api, channels=[night.pk], publish_at=tomorrow(23).isoformat(), silent=True)
    assert api.post(f"/api/posts/{post['id']}/schedule/", format="json").status_code == 200
    assert Publication.objects.get(post_id=post["id"]).publish_after == tomorrow(23)

    refused = api.patch(f"/api/posts/{post['id']}/", {"silent": False}, format="json")

    assert refused.status_code == 400
    assert "night hours" in refused.json()["publish_at"][0]
    assert Publication.objects.get(post_id=post["id"]).silent is True

    moved = api.patch(f"/api/posts/{post['id']}/", {"silent": False, "move": True}, format="json")

    assert moved.status_code == 200, moved.json()
    publication = Publication.objects.get(post_id=post["id"])
    assert (publication.publish_after, publication.silent) == (tomorrow(8) + timedelta(days=1), False)


def test_media_over_a_channel_platforms_limit_is_refused_naming_media(api):
    telegram, viber = channel("@brand"), channel("brand-viber", platform="viber", title="Viber")
    draft = DraftFactory(body="Autumn sale\nEverything −30 %", media_url="https://cdn.example.com/autumn.jpg",
                         media_kind="image", media_content_type="image/jpeg", media_size=2 * 1024 * 1024,
                         media_name="autumn.jpg")
    post = create(api, draft=draft.pk, channels=[telegram.pk, viber.pk])

    response = api.post(f"/api/posts/{post['id']}/schedule/", format="json")

    assert response.status_code == 400
    assert response.json()["media"] == ["viber: the image is 2 MB, over the limit of 1 MB"]
    assert Post.objects.get(pk=post["id"]).status == "draft"
    assert not Publication.objects.exists()

    # The same picture to the Telegram channel alone is within its limits (5 MB by URL).
    api.patch(f"/api/posts/{post['id']}/", {"channels": [telegram.pk]}, format="json")
    assert api.post(f"/api/posts/{post['id']}/schedule/", format="json").status_code == 200


def test_the_results_give_clicks_reactions_and_subscribers_before_and_after(api):
    from campaigns.models import ChannelSample

    brand = channel("@brand")
    post = create(api, channels=[brand.pk])
    api.post(f"/api/posts/{post['id']}/schedule/", format="json")
    at = timezone.now() - timedelta(hours=2)
    Publication.objects.filter(post_id=post["id"]).update(
        status=P.PUBLISHED, message_id="41", published_at=at, clicks=3, reactions={"👍": 5})
    ChannelSample.objects.create(channel=brand, at=at - timedelta(minutes=5), subscribers=1200)
    ChannelSample.objects.create(channel=brand, at=at + timedelta(hours=1, minutes=2), subscribers=1195)

    result = api.get(f"/api/posts/{post['id']}/").json()["results"][str(brand.pk)]

    assert {k: result[k] for k in ("status", "message_id", "clicks", "reactions", "subscribers_before",
                                   "subscribers_after")} == {
        "status": "published", "message_id": "41", "clicks": 3, "reactions": {"👍": 5},
        "subscribers_before": 1200, "subscribers_after": 1195}
