# Two commands: `make run` (the embedded demo) and `make test` (the whole suite on
# real PostgreSQL and Redis). Both install what they need into .venv first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
TACT_PORT ?= 8000

# The suite's own databases: PostgreSQL (pytest-django makes test_tact) and Redis db 15.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tact
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test bench services tools messages clean
N ?= 100000
# What makemessages does not read: installed packages, tests, run-time files.
MESSAGES_IGNORE := -i ".venv/*" -i "tests/*" -i "var/*" -i "build/*"

# The demo runs with DJANGO_DEBUG=true: plain http, a key kept in var/secret-key.
DEMO_ENV = DJANGO_DEBUG=$${DJANGO_DEBUG:-true}
# The suite and the bench run as production does (DJANGO_DEBUG=false), with this
# checkout's key (var/secret-key, made once) and plain http on loopback (no redirect;
# session and CSRF cookies sent over http, so the browser tests can log in to the live server).
KEY_FILE := var/secret-key
TEST_ENV = DJANGO_SECRET_KEY="$$(cat $(KEY_FILE))" DJANGO_SECURE_SSL_REDIRECT=false \
	DJANGO_SESSION_COOKIE_SECURE=false DJANGO_CSRF_COOKIE_SECURE=false

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

run: install
	@$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput -v 0
	@$(DEMO_ENV) $(BIN)/python manage.py tact_demo
	@$(DEMO_ENV) $(BIN)/python manage.py tact_admin --url http://127.0.0.1:$(TACT_PORT)/admin/
	@echo "  Starting web, worker and beat (Ctrl-C stops all three) ..."
	@PATH="$(BIN):$$PATH" $(DEMO_ENV) TACT_PORT=$(TACT_PORT) \
		exec $(BIN)/python scripts/run

test: install services tools $(KEY_FILE) .env
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Figures, not assertions: planning rate, send throughput, ceiling use, worker memory.
bench: install services $(KEY_FILE) .env
	$(TEST_ENV) N=$(N) $(BIN)/python tests/bench/run.py

$(KEY_FILE): | $(STAMP)
	@mkdir -p $(@D)
	@umask 077 && $(BIN)/python -c "from django.core.management.utils import get_random_secret_key as k; print(k())" > $@

# The checkout's own .env (git- and docker-ignored): `manage.py ...` runs here with this key,
# as it does in production with its own. Made once; yours to edit.
.env: | $(KEY_FILE)
	@umask 077 && printf 'DJANGO_SECRET_KEY=%s\n' "$$(cat $(KEY_FILE))" > $@

services:
	@scripts/services

# Debian's Chromium (browser tests) and gettext (translation test), installed with apt when missing.
tools:
	@scripts/tools

# After changing or adding a translatable string: refresh the Russian catalogue
# (locale/ru/LC_MESSAGES/django.po), translate the new entries, then run it again to compile.
messages: install tools .env
	@$(BIN)/python manage.py makemessages -l ru $(MESSAGES_IGNORE) --add-location file --no-obsolete -v 0
	@$(BIN)/python manage.py compilemessages -l ru -i .venv -v 0
	@$(BIN)/python -c "import polib; p = polib.pofile('locale/ru/LC_MESSAGES/django.po'); \
		n = len(p.untranslated_entries()) + len(p.fuzzy_entries()); print(f'{n} entries to translate' if n else 'Russian catalogue complete')"

clean:
	rm -rf var/ .pytest_cache
