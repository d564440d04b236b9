"""`python manage.py load_demo`: demo admin, agent, traces, then each later stage's demo step.

Each stage may have a module with `demo_load(*, stdout)`, idempotent; they run
in pipeline order so each stage finds the data the one before it made.
"""

import importlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEMO_STAGES = [
    "traces.demo",
    "traces.demo_volume",
    "traces.demo_filter",
    "labeling.demo",
    "rewards.demo",
    "training.demo",
    "rollout.demo",
    "rollout.demo_loop",
]


class Command(BaseCommand):
    help = "Load demo data for every stage (safe to run twice)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-demo-users",
            action="store_true",
            help="with DEBUG off, still create (or reset) the demo users admin/admin and the demo reviewers",
        )

    def handle(self, *args, **options):
        # The demo makes a superuser admin/admin and reviewers with known passwords: never by accident on a
        # production deployment (DEBUG off), only when asked for explicitly.
        if not settings.DEBUG and not options["allow_demo_users"]:
            raise CommandError(
                "load_demo creates or resets demo users with known passwords (admin/admin); with DEBUG off it "
                "refuses. Pass --allow-demo-users if this really is a demo machine."
            )
        for name in DEMO_STAGES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            module.demo_load(stdout=self.stdout)
