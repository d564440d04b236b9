from django.core.management.base import BaseCommand

from rollout.disagreements import disagreements_sample
from rollout.models import Rollout, RolloutState


class Command(BaseCommand):
    help = "Queue the shadow/baseline pairs that disagree most as A/B preference items (every running rollout)."

    def add_arguments(self, parser):
        parser.add_argument("--rollout", type=int)
        parser.add_argument("--limit", type=int)

    def handle(self, *args, **options):
        rollouts = Rollout.objects.filter(state__in=[RolloutState.SHADOW, RolloutState.CANARY])
        if options["rollout"]:
            rollouts = Rollout.objects.filter(pk=options["rollout"])
        for rollout in rollouts:
            result = disagreements_sample(rollout=rollout, limit=options["limit"])
            self.stdout.write(
                f"rollout {rollout.pk}: {result['pairs']} pairs, {result['added']} queued (by {result['scored_by']})"
            )
