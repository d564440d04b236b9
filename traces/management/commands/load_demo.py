"""`python manage.py load_demo`: demo admin, agent, traces, then each later stage's demo step.

Each stage may have a module with `demo_load(*, stdout)`, idempotent; they run
in pipeline order so each stage finds the data the one before it made.
"""

import importlib

from django.core.management.base import BaseCommand

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

    def handle(self, *args, **options):
        for name in DEMO_STAGES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            module.demo_load(stdout=self.stdout)
