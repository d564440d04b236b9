from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from rollout.disagreements import disagreements_sample
from rollout.errors import command_errors
from rollout.selectors import rollout_get, rollouts_running


class Command(BaseCommand):
    help = "Queue the shadow/baseline pairs that disagree most as A/B preference items (every running rollout)."

    def add_arguments(self, parser):
        parser.add_argument("--rollout", help="one rollout id (default: every running rollout)")
        parser.add_argument("--limit", type=int, help="pairs to queue per rollout (at least 1)")

    def handle(self, *args, rollout, limit, **options):
        with command_errors():
            if limit is not None and limit < 1:
                raise ValidationError({"limit": f"must be at least 1, got {limit}"})
            rollouts = [rollout_get(rollout_id=rollout)] if rollout else list(rollouts_running())
        for each in rollouts:
            result = disagreements_sample(rollout=each, limit=limit)
            self.stdout.write(
                f"rollout {each.pk}: {result['pairs']} pairs, {result['added']} queued (by {result['scored_by']})"
            )
