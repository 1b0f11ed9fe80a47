"""The channel post's admin page: Schedule (optionally moved to the next allowed slot) and
Cancel per role and status, a read-only page once scheduled, each channel's publication."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from campaigns.models import BrandChannel, Post, Publication, UserProfile
from tests.conftest import DraftFactory

pytestmark = pytest.mark.django_db

PRESS = {"_form_submitted": "True"}  # unfold's dialog form: the confirmation, posted


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def admin_as(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def tomorrow(hour: int) -> datetime:
    day = (timezone.now() + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def a_post(chat: str = "@brand", hour: int = 12, **channel: object) -> Post:
    defaults = {"title": chat.strip("@").title(), "can_post": True, "timezone": "UTC",
                "night_start": time(0, 0), "night_end": time(0, 0)}
    brand, _ = BrandChannel.objects.get_or_create(platform="telegram", chat=chat, defaults={**defaults, **channel})
    post = Post.objects.create(name=f"Sale at {hour}", draft=DraftFactory(), publish_at=tomorrow(hour))
    post.channels.set([brand])
    return post


def buttons_on(page: str, post: Post) -> set[str]:
    return set(re.findall(rf'href="/admin/campaigns/post/{post.pk}/(schedule|cancel)/"', page))


def test_a_marketer_schedules_a_draft_and_then_sees_it_read_only_with_its_publication():
    marketer = admin_as(staff("mia", "Marketer"))
    post = a_post()
    page = marketer.get(f"/admin/campaigns/post/{post.pk}/change/").content.decode()
    assert buttons_on(page, post) == {"schedule", "cancel"}

    response = marketer.post(f"/admin/campaigns/post/{post.pk}/schedule/", PRESS)

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED
    page = marketer.get(f"/admin/campaigns/post/{post.pk}/change/").content.decode()
    assert buttons_on(page, post) == {"cancel"}
    assert 'name="publish_at_0"' in page and 'name="move"' in page  # edited until it goes out
    assert "data-publications" in page and "Planned" in page

    Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHED)
    page = marketer.get(f"/admin/campaigns/post/{post.pk}/change/").content.decode()
    assert 'name="publish_at' not in page  # read-only once it went out


def edit(client: Client, post: Post, **changes: object):
    values = {"name": post.name, "draft": post.draft_id, "channels": [c.pk for c in post.channels.all()],
              "publish_at_0": f"{post.publish_at:%Y-%m-%d}", "publish_at_1": f"{post.publish_at:%H:%M}",
              **changes}
    return client.post(f"/admin/campaigns/post/{post.pk}/change/", values, follow=True)


def test_a_scheduled_post_is_edited_in_the_admin_through_the_cadence_guard():
    marketer = admin_as(staff("mia", "Marketer"))  # in UTC: no profile zone
    first = a_post(hour=12, min_gap_minutes=120)
    marketer.post(f"/admin/campaigns/post/{first.pk}/schedule/", PRESS)
    second = a_post(hour=16)
    marketer.post(f"/admin/campaigns/post/{second.pk}/schedule/", PRESS)
    second.refresh_from_db()
    second.draft.body = "Sale moved\nnew details"
    second.draft.save()

    refused = edit(marketer, second, publish_at_1="13:00", silent="on")

    assert "within 120 minutes" in refused.content.decode()
    second.refresh_from_db()
    assert (second.publish_at, second.silent) == (tomorrow(16), False)
    assert Publication.objects.get(post=second).publish_after == tomorrow(16)

    moved = edit(marketer, second, publish_at_1="13:00", silent="on", move="on")

    assert moved.status_code == 200 and "within 120 minutes" not in moved.content.decode()
    second.refresh_from_db()
    publication = Publication.objects.get(post=second)
    assert (second.status, second.publish_at, second.silent) == (Post.Status.SCHEDULED, tomorrow(13), True)
    assert (publication.status, publication.publish_after, publication.silent) == (
        Publication.Status.PLANNED, tomorrow(14), True)
    assert second.content_body == "Sale moved\nnew details"  # frozen anew from the draft


def test_the_cadence_refusal_is_shown_and_the_move_choice_takes_the_next_slot():
    marketer = admin_as(staff("mia", "Marketer"))
    first = a_post(hour=12, min_gap_minutes=120)
    marketer.post(f"/admin/campaigns/post/{first.pk}/schedule/", PRESS)
    second = a_post(hour=13)

    refused = marketer.post(f"/admin/campaigns/post/{second.pk}/schedule/", PRESS, follow=True)

    assert "was not scheduled" in refused.content.decode()
    assert "within 120 minutes" in refused.content.decode()
    assert Post.objects.get(pk=second.pk).status == Post.Status.DRAFT

    moved = marketer.post(f"/admin/campaigns/post/{second.pk}/schedule/", {**PRESS, "move": "on"}, follow=True)

    assert "moved to" in moved.content.decode()
    assert Publication.objects.get(post=second).publish_after == tomorrow(14)


def test_cancel_in_the_admin_cancels_what_is_planned():
    marketer = admin_as(staff("mia", "Marketer"))
    post = a_post()
    marketer.post(f"/admin/campaigns/post/{post.pk}/schedule/", PRESS)

    marketer.post(f"/admin/campaigns/post/{post.pk}/cancel/", PRESS)

    assert Post.objects.get(pk=post.pk).status == Post.Status.CANCELLED
    assert list(Publication.objects.filter(post=post).values_list("status", flat=True)) == ["cancelled"]


def test_an_analyst_sees_no_buttons_and_cannot_press_them():
    analyst = admin_as(staff("ann", "Analyst"))
    post = a_post()

    page = analyst.get(f"/admin/campaigns/post/{post.pk}/change/")
    pressed = analyst.post(f"/admin/campaigns/post/{post.pk}/schedule/", PRESS)

    assert page.status_code == 200
    assert buttons_on(page.content.decode(), post) == set()
    assert pressed.status_code in (302, 403)
    assert Post.objects.get(pk=post.pk).status == Post.Status.DRAFT
    assert not Publication.objects.exists()


def test_the_list_shows_status_time_in_the_viewers_zone_and_channels():
    user = staff("mia", "Marketer")
    UserProfile.objects.create(user=user, timezone="Asia/Vladivostok")
    post = a_post(hour=12)

    page = admin_as(user).get("/admin/campaigns/post/").content.decode()

    assert post.name in page and "Brand" in page and "Draft" in page
    local = post.publish_at.astimezone(ZoneInfo("Asia/Vladivostok"))
    assert f"{local:%Y-%m-%d %H:%M} Asia/Vladivostok" in page


def test_a_marketer_adds_a_post_with_the_form_and_it_is_a_draft():
    marketer = admin_as(staff("mia", "Marketer"))
    brand = BrandChannel.objects.create(platform="telegram", chat="@brand", title="Brand", can_post=True)
    draft = DraftFactory()
    assert marketer.get("/admin/campaigns/post/add/").status_code == 200

    response = marketer.post("/admin/campaigns/post/add/", {
        "name": "Friday post", "draft": draft.pk, "channels": [brand.pk], "publish_at_0": "2030-01-04",
        "publish_at_1": "10:00", "silent": "on"})

    assert response.status_code == 302, response.content.decode()[:3000]
    post = Post.objects.get()
    assert (post.name, post.status, post.silent, list(post.channels.all())) == (
        "Friday post", Post.Status.DRAFT, True, [brand])
    assert post.created_by.username == "mia"
    assert not Publication.objects.exists()
