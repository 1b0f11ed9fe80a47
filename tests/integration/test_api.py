import json
import pytest
from tests.conftest import SubscriberFactory, subscribe, DraftFactory, SegmentFactory, CampaignFactory

C = {"source": "import", "text": "Yes", "at": "2026-11-01T10:00:00Z"}

def show(r):
    print(r.status_code, json.dumps(r.json() if r.get("content-type","").startswith("application/json") else r.content[:300].decode(), ensure_ascii=False))

def test_probe(admin_client_api):
    c = admin_client_api
    boris = SubscriberFactory(name="Boris", external_id="crm-1")
    subscribe(boris, "telegram", "123456789")
    base = {"external_id": "crm-42", "name": "Anna", "timezone": "Europe/Moscow", "language": "RU", "tags": ["vip"], "attributes": {"a": 1},
            "subscriptions": [{"platform": "whatsapp", "address": "+7 999 000-11-22", "saved_our_number": True, "consent": C}]}
    show(c.post("/api/subscribers/", base, format="json"))
    for mod in [
        {"external_id": "crm-1"},
        {"external_id": ""},
        {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": C}]},
        {"subscriptions": [{"platform": "telegram", "address": "0123456789", "consent": C}]},
        {"subscriptions": [{"platform": "telegram", "address": "5"}, {"platform": "viber", "address": "abc", "consent": C}]},
        {"subscriptions": [{"platform": "telegram", "address": "5", "consent": C}, {"platform": "telegram", "address": "6", "consent": C}]},
        {"attributes": [1]},
        {"name": "a\u0000b"},
        {"tags": ["x"*51]},
        {"subscriptions": None},
        {"language": None},
    ]:
        show(c.post("/api/subscribers/", {**base, "external_id": "", "subscriptions": [], **mod}, format="json"))
    show(c.post("/api/subscribers/", "[1,2]", content_type="application/json"))
    show(c.post("/api/subscribers/", "{not json", content_type="application/json"))
    r = c.patch(f"/api/subscribers/{boris.pk}/", {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": C}]}, format="json")
    show(r)
    show(c.get("/api/subscribers/", {"platform": "sms"}))
    show(c.delete(f"/api/subscribers/{boris.pk}/"))
    show(c.post("/api/drafts/", {"title": "t", "body": "   "}, format="json"))
    show(c.post("/api/drafts/", {"title": "t", "body": "b", "buttons": [{"text": "a", "url": "ftp://example.com"}, {"text": "b", "url": "javascript:alert(1)"}]}, format="json"))
    show(c.post("/api/drafts/", {"title": "t", "body": "b", "buttons": [{"text": "a", "url": "https://e.com"}]*4}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "rules": {"foo": 1, "tags_all": ["a"]}}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "rules": "abc"}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "rules": None}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "members": [boris.pk]}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "kind": "static", "members": [boris.pk]}, format="json"))
    show(c.post("/api/segments/", {"name": "s", "kind": "static", "rules": {"tags_all": ["a"]}}, format="json"))
    show(c.post("/api/opt-out/", {"platform": "sms", "address": "1"}, format="json"))
    show(c.post("/api/opt-out/", {"platform": None, "address": None}, format="json"))
    show(c.post("/api/opt-out/", {"platform": "telegram", "address": "999"}, format="json"))
    show(c.post("/api/opt-out/", {"platform": "telegram", "address": "123456789"}, format="json"))
    d = DraftFactory(); s = SegmentFactory()
    show(c.post("/api/campaigns/", {"name": "x", "draft": d.pk, "segment": s.pk, "platforms": [], "send_at": "2030-01-01T09:00:00Z"}, format="json"))
    show(c.post("/api/campaigns/", {"name": "x", "draft": d.pk, "segment": s.pk, "platforms": ["sms", "telegram"], "send_at": "2030-01-01T09:00:00Z"}, format="json"))
    show(c.post("/api/campaigns/", {"name": "x", "draft": d.pk, "segment": s.pk, "platforms": "telegram", "send_at": "2030-01-01T09:00:00Z"}, format="json"))
    show(c.post("/api/campaigns/", {"name": "x", "draft": None, "segment": s.pk, "platforms": ["viber", "telegram"], "send_at": "2030-01-01T09:00:00Z", "expires_at": "2030-01-01T08:00:00Z"}, format="json"))
    r = c.post("/api/campaigns/", {"name": "x", "draft": d.pk, "segment": s.pk, "platforms": ["viber", "telegram"], "send_at": "2030-01-01T09:00:00Z"}, format="json")
    show(r)
    cid = r.json()["id"]
    show(c.post(f"/api/campaigns/{cid}/cancel/"))
    show(c.post(f"/api/campaigns/{cid}/schedule/"))
    show(c.patch(f"/api/campaigns/{cid}/", {"name": "y"}, format="json"))
    show(c.delete(f"/api/campaigns/{cid}/"))
    show(c.get("/api/deliveries/", {"campaign": "abc"}))
    show(c.get("/api/deliveries/", {"campaign": "99999"}))
    r = c.get("/api/schema/"); print(r.status_code, r["content-type"], r.content[:100])
    r = c.get("/api/docs/"); print(r.status_code, r["content-type"])
    show(c.post("/api/subscribers/import/", {"file": "notafile"}))
    assert 0
