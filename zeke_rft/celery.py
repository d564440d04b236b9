import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")

app = Celery("zeke_rft")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _sentry_for_workers_and_beat(**kwargs):
    """Workers and beat report their errors to Sentry too, when SENTRY_DSN is set."""
    from zeke_rft.observability import sentry_init

    sentry_init()
