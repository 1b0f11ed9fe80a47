# syntax=docker/dockerfile:1

# --- builder: a venv with the dependencies from pyproject.toml -----------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY campaigns ./campaigns
COPY channels ./channels
# Install the project (checks its packaging), then drop it and keep the dependencies:
# the code runs from /app, so settings.BASE_DIR is /app. The `flower` extra: Celery's web
# monitor for compose's `flower` service (same image).
RUN pip install ".[flower]" && pip uninstall -y tact

# --- runtime -------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    TACT_VAR_DIR=/app/var \
    DJANGO_STATIC_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Code stays root-owned (read-only for the app user); only var/ is writable.
COPY manage.py ./
COPY config ./config
COPY campaigns ./campaigns
COPY channels ./channels
# The compiled Russian catalogue (locale/ru/LC_MESSAGES/django.mo): no gettext needed here.
COPY locale ./locale
# var/prometheus: every process's metrics files (PROMETHEUS_MULTIPROC_DIR), shared by web and
# workers through compose's `metrics` volume.
RUN mkdir -p /app/var/media /app/var/prometheus && chown -R app:app /app/var

USER app

# The key exists only for this step; it is not kept in the image.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

EXPOSE 8000

# Needs 127.0.0.1 in DJANGO_ALLOWED_HOSTS; /healthz/ is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz/', timeout=4)"]

# Same image, other roles:
#   worker: celery -A config worker -l info -Q celery,telegram,whatsapp,viber
#   beat:   celery -A config beat -l info --schedule /app/var/celerybeat-schedule
#   flower: celery -A config flower --port=5555 --basic-auth=user:password (compose: FLOWER_BASIC_AUTH)
# Tune gunicorn with GUNICORN_CMD_ARGS, e.g. "--workers 4". The 120 s timeout leaves room
# for a campaign forecast over a million people (about 36 s here).
# The access log leaves out query strings and referrers (they can carry personal data).
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--timeout", "120", "--access-logfile", "-", \
     "--access-logformat", "%(h)s %(t)s \"%(m)s %(U)s\" %(s)s %(b)s %(L)ss"]
