"""The Celery app: `celery -A config worker` and `celery -A config beat`."""

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tact")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Periodic housekeeping that runs every few seconds whether or not there is work: its
# "received", "succeeded" and beat's "Sending due task" lines are logged at DEBUG. The work
# they start (plan, send_list, ...) and any failure still log at INFO and above.
ROUTINE_TASKS = frozenset({
    "campaigns.tasks.tick", "campaigns.tasks.sweep", "campaigns.tasks.import_sweep",
    "campaigns.tasks.sandbox_receipts", "channels.tasks.retry_pending", "campaigns.tasks.publish_posts",
})
ROUTINE_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


class RoutineTaskFilter(logging.Filter):
    """Celery's INFO lines about ROUTINE_TASKS moved to DEBUG (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _is_routine(record.args):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def _is_routine(args: object) -> bool:
    if isinstance(args, dict):  # the worker's: {"id", "name", ...}
        return args.get("name") in ROUTINE_TASKS
    # beat's "Scheduler: Sending due task %s (%s)": (entry name, task name)
    return isinstance(args, tuple) and len(args) == 2 and args[1] in ROUTINE_TASKS


for _name in ROUTINE_LOGGERS:
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, RoutineTaskFilter) for f in _logger.filters):
        _logger.addFilter(RoutineTaskFilter())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger: logging.Logger, **kwargs: object) -> None:
    """Celery replaces the root logger's handlers with its own: give them our filter too."""
    from campaigns.logs import RedactFilter

    for handler in logger.handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_worker_logs(logger: logging.Logger, **kwargs: object) -> None:
    """TACT_LOG_FORMAT=json: Celery's handlers write JSON lines too (campaigns/log_format.py)."""
    from campaigns.log_format import use_json_format

    use_json_format(logger)
