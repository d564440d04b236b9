"""`python manage.py score_traces`: the pipeline's `score` step by hand (also the 05:00 beat job)."""

from django.core.management.base import BaseCommand, CommandError

from rewards.services import traces_score
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Score every eligible, unlabeled trace with the active reward model (each once per model version)."

    def handle(self, *args, **options):
        try:
            result = traces_score()
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{result['scored']} traces scored by reward model {result['reward_model']}")
