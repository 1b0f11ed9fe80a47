"""Make sure an admin login exists for `make run`, and print where and how to log in."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the local admin login once (password kept in var/admin-password) and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")
        parser.add_argument("--username", default="admin")

    def handle(self, *args, url: str, username: str, **options) -> None:
        User = get_user_model()
        password_file = settings.VAR_DIR / "admin-password"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = os.environ.get("TACT_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        elif password_file.exists():
            password = password_file.read_text().strip()
        else:
            password = f"(unchanged; reset it with `python manage.py changepassword {username}`)"
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            "\n"
            f"  Tact admin:  {url}\n"
            f"  Login:       {username} / {password}\n"
            f"  API token:   {token.key}   (Authorization: Token <key>; docs at {url.replace('/admin/', '/api/docs/')})\n"
        )
