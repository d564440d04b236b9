"""`python manage.py poll_training [--run ID]`: poll unfinished runs now (what the beat job does every 2 minutes)."""

from django.core.management.base import BaseCommand, CommandError

from training.models import TERMINAL_TRAINING_STATUSES, TrainingRun
from training.services import training_run_poll
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Poll the backend for runs that have a job and have not finished."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, default=None)

    def handle(self, *args, run, **options):
        runs = TrainingRun.objects.exclude(job_id="")
        runs = runs.filter(pk=run) if run else runs.exclude(status__in=TERMINAL_TRAINING_STATUSES)
        if run and not runs.exists():
            raise CommandError(f"--run: no training run {run} with a backend job")
        for run_id in runs.values_list("pk", flat=True):
            try:
                polled = training_run_poll(run_id=run_id)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"run {polled.pk}: {polled.status} ({polled.metrics.get('steps', 0)} steps)")
