from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rollout.models import Rollout
from rollout.services import rollout_rollback
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Roll back a rollout: previous policy active again, candidate's traces quarantined, all in one transaction."

    def add_arguments(self, parser):
        parser.add_argument("rollout_id", type=int)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", help="username to record as the one who rolled back")

    def handle(self, *args, **options):
        try:
            self._handle(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def _handle(self, **options):
        rollout = Rollout.objects.filter(pk=options["rollout_id"]).first()
        if rollout is None:
            raise CommandError(f"no rollout {options['rollout_id']}")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
        rollout = rollout_rollback(rollout=rollout, reason=options["reason"], user=user)
        baseline = rollout.baseline.model_id if rollout.baseline else "none"
        self.stdout.write(f"rollout {rollout.pk} rolled back; active policy for {rollout.modality}: {baseline}")
