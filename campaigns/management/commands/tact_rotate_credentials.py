"""Re-encrypt every sender account's credentials under the first key of TACT_CREDENTIALS_KEY.

Rotation: put the new key first (TACT_CREDENTIALS_KEY=new,old), run this, then drop the old
key. Accounts whose credentials no configured key opens are named and left as they are.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from campaigns.credentials import CredentialsUnreadable, rotate
from campaigns.models import SenderAccount


class Command(BaseCommand):
    help = "Re-encrypt sender accounts' credentials with the first key of TACT_CREDENTIALS_KEY."

    def handle(self, *args, **options):
        done, unreadable = 0, []
        with transaction.atomic():
            for account in SenderAccount.objects.select_for_update().exclude(credentials_encrypted=""):
                try:
                    account.credentials_encrypted = rotate(account.credentials_encrypted)
                except CredentialsUnreadable:
                    unreadable.append(account.slug)
                    continue
                account.save(update_fields=["credentials_encrypted", "updated_at"])
                done += 1
        self.stdout.write(f"{done} sender account(s) re-encrypted with the first key")
        if unreadable:
            raise CommandError("no configured key opens the credentials of: " + ", ".join(unreadable)
                               + " (enter them again in the admin)")
