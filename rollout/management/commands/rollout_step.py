from django.core.management.base import BaseCommand

from rollout.errors import command_errors
from rollout.selectors import policy_get, rollout_get
from rollout.services import rollout_promote, rollout_start_canary, rollout_start_shadow


class Command(BaseCommand):
    help = "Move a rollout one step: `shadow MODEL_ID`, `canary ROLLOUT_ID [--percent P]`, `promote ROLLOUT_ID`."

    def add_arguments(self, parser):
        parser.add_argument("step", choices=["shadow", "canary", "promote"])
        parser.add_argument("target", help="candidate model id (shadow) or rollout id (canary, promote)")
        parser.add_argument("--percent", type=float)
        parser.add_argument("--modality", default="chat")
        parser.add_argument("--reason", default="")

    def handle(self, *args, step, target, percent, modality, reason, **options):
        with command_errors():
            if step == "shadow":
                candidate = policy_get(model_id=target, modality=modality, field="target")
                rollout = rollout_start_shadow(candidate=candidate, reason=reason)
            elif step == "canary":
                rollout = rollout_start_canary(rollout=rollout_get(rollout_id=target), percent=percent, reason=reason)
            else:
                rollout = rollout_promote(rollout=rollout_get(rollout_id=target), reason=reason)
        self.stdout.write(
            f"rollout {rollout.pk}: {rollout.candidate.model_id} is {rollout.state} ({rollout.traffic_percent}%)"
        )
