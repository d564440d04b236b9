"""`python manage.py load_demo`: demo admin, agent, traces, then each later stage's demo step.

Each app may have `<app>/demo.py` with `demo_load(*, stdout)`, idempotent; they
run in pipeline order so each stage finds the data the one before it made.
"""

import importlib

from django.core.management.base import BaseCommand

DEMO_STAGES = ["traces", "labeling", "rewards", "training", "rollout"]


class Command(BaseCommand):
    help = "Load demo data for every stage (safe to run twice)."

    def handle(self, *args, **options):
        for app in DEMO_STAGES:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            module.demo_load(stdout=self.stdout)
