import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
application = get_wsgi_application()

from zeke_rft.observability import sentry_init  # noqa: E402 - needs the settings configured above

sentry_init()
