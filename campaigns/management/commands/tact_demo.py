"""Load demo data for `make run`: idempotent, a second run adds nothing."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Draft, FrequencyPolicy, Segment, Subscriber

MARK = "demo-"
CITIES = ["Moscow", "Saint Petersburg", "Kazan", "Novosibirsk"]
ZONES = {"Moscow": "Europe/Moscow", "Saint Petersburg": "Europe/Moscow", "Kazan": "Europe/Moscow",
         "Novosibirsk": "Asia/Novosibirsk"}
NAMES = ["Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zhanna", "Ilya", "Kira", "Lev", "Maria", "Nikita",
         "Olga", "Pavel", "Rita", "Sergei", "Tanya", "Ulyana", "Fedor", "Khristina"]


class Command(BaseCommand):
    help = "Load the demo audience, segments, drafts and a campaign (once)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        FrequencyPolicy.objects.get_or_create(pk=FrequencyPolicy.SINGLETON_ID)
        if Subscriber.objects.filter(external_id__startswith=MARK).exists():
            self.stdout.write("Demo data: already loaded, nothing added.")
            return
        consent_at = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
        for i in range(60):
            city = CITIES[i % len(CITIES)]
            subscriber = Subscriber.objects.create(
                external_id=f"{MARK}{i + 1:03d}",
                name=f"{NAMES[i % len(NAMES)]} {i + 1}",
                timezone=ZONES[city],
                language="ru" if i % 5 else "en",
                attributes={"city": city, "avg_check": 1500 + 250 * (i % 20)},
            )
            tags = ["newsletter"] + (["vip"] if i % 4 == 0 else []) + (["black_friday"] if i % 3 == 0 else [])
            services.tags_set(subscriber=subscriber, names=tags)
            consent = services.Consent(source="demo", text="Yes, send me offers", at=consent_at)
            platforms = ["telegram", "whatsapp", "viber"]
            for platform in platforms[: 1 + i % 3] if i % 2 else platforms[i % 3 :][:1]:
                address = {
                    "telegram": str(700000000 + i),
                    "whatsapp": f"+7999{i + 1:07d}",
                    "viber": f"demoViberUser{i + 1:03d}==",  # Viber bots know people by user id
                }[platform]
                subscription = services.subscription_add(
                    subscriber=subscriber, platform=platform, address=address, consent=consent,
                    saved_our_number=platform == "whatsapp" and i % 3 != 1,
                )
                if i % 11 == 5:
                    services.subscription_opt_out(
                        subscription=subscription,
                        consent=services.Consent(source="demo", text="STOP", at=consent_at + timedelta(days=3)),
                    )
        everyone = Segment.objects.create(name="Everyone (newsletter)", kind=Segment.Kind.DYNAMIC,
                                          rules={"tags_all": ["newsletter"], "tags_any": [], "platforms": [], "attributes": {}})
        Segment.objects.create(name="VIP Moscow", kind=Segment.Kind.DYNAMIC, max_size=15,
                               rules={"tags_all": ["vip"], "tags_any": [], "platforms": [],
                                      "attributes": {"city": "Moscow"}})
        best = Segment.objects.create(name="Best customers (VIP pool)", kind=Segment.Kind.STATIC)
        best.members.set(Subscriber.objects.filter(external_id__startswith=MARK).order_by("-id")[:24])
        draft = Draft.objects.create(
            title="Black Friday",
            body="−30% on everything today only 🛍️\nEvery item in the shop, until midnight. Details inside…",
            buttons=[{"text": "Shop", "url": "https://example.com/black-friday"}],
            # for WhatsApp people outside the 24-hour window (in the sandbox: recorded, not sent)
            whatsapp_template={"name": "black_friday", "language": "en", "parameters": []},
        )
        Draft.objects.create(
            title="Too long for a push (example)",
            body="Dear customer, we are delighted to let you know that our big seasonal sale with discounts on "
                 "almost every product line starts this weekend\nMore inside.",
        )
        Campaign.objects.create(
            name="Black Friday 2026", draft=draft, segment=everyone, platforms=["telegram", "whatsapp", "viber"],
            send_at=timezone.now() + timedelta(days=1), local_time=True,
        )
        self.stdout.write("Demo data: 60 subscribers on Telegram, WhatsApp and Viber, 3 segments, 2 drafts, 1 campaign.")
