import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")

app = Celery("zeke_rft")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
