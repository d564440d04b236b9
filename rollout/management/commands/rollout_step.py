from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rollout.models import Policy, Rollout
from rollout.services import rollout_promote, rollout_start_canary, rollout_start_shadow
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Move a rollout one step: `shadow MODEL_ID`, `canary ROLLOUT_ID [--percent P]`, `promote ROLLOUT_ID`."

    def add_arguments(self, parser):
        parser.add_argument("step", choices=["shadow", "canary", "promote"])
        parser.add_argument("target", help="candidate model id (shadow) or rollout id (canary, promote)")
        parser.add_argument("--percent", type=float)
        parser.add_argument("--modality", default="chat")

    def handle(self, *args, **options):
        try:
            self._handle(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def _handle(self, **options):
        if options["step"] == "shadow":
            candidate = Policy.objects.filter(model_id=options["target"], modality=options["modality"]).first()
            if candidate is None:
                raise CommandError(f"no {options['modality']} policy {options['target']!r}")
            rollout = rollout_start_shadow(candidate=candidate)
        else:
            rollout = Rollout.objects.filter(pk=options["target"]).first()
            if rollout is None:
                raise CommandError(f"no rollout {options['target']}")
            if options["step"] == "canary":
                rollout = rollout_start_canary(rollout=rollout, percent=options["percent"])
            else:
                rollout = rollout_promote(rollout=rollout)
        self.stdout.write(
            f"rollout {rollout.pk}: {rollout.candidate.model_id} is {rollout.state} ({rollout.traffic_percent}%)"
        )
