"""The baseline the engine is measured against: one Celery task per message, each opening
its own Bot (what a first implementation usually does). Loaded only by the benchmark's
worker (`celery ... --include tests.bench.baseline`)."""

import asyncio

from celery import shared_task
from telegram import Bot


@shared_task(ignore_result=True, acks_late=True)
def send_one(token: str, base_url: str, chat_id: int, text: str) -> None:
    async def send() -> None:
        async with Bot(token, base_url=base_url) as bot:
            await bot.send_message(chat_id=chat_id, text=text)

    asyncio.run(send())
