from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rollout.errors import command_errors
from rollout.selectors import policy_get, rollout_get
from rollout.services import rollout_promote, rollout_start_canary, rollout_start_shadow


def _user(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}")
    return user


class Command(BaseCommand):
    help = "Move a rollout one step: `shadow MODEL_ID`, `canary ROLLOUT_ID [--percent P]`, `promote ROLLOUT_ID`."

    def add_arguments(self, parser):
        parser.add_argument("step", choices=["shadow", "canary", "promote"])
        parser.add_argument("target", help="candidate model id (shadow) or rollout id (canary, promote)")
        parser.add_argument("--percent", type=float)
        parser.add_argument("--modality", default="chat")
        parser.add_argument("--reason", default="")
        parser.add_argument(
            "--override",
            action="store_true",
            help="promote without the evidence the promotion rule asks (needs --user with the permission and --reason)",
        )
        parser.add_argument("--user", help="username acting (recorded in history); needed for --override")

    def handle(self, *args, step, target, percent, modality, reason, override, user, **options):
        with command_errors():
            if step == "shadow":
                candidate = policy_get(model_id=target, modality=modality, field="target")
                rollout = rollout_start_shadow(candidate=candidate, reason=reason)
            elif step == "canary":
                rollout = rollout_start_canary(rollout=rollout_get(rollout_id=target), percent=percent, reason=reason)
            else:
                rollout = rollout_promote(
                    rollout=rollout_get(rollout_id=target), reason=reason, override=override, user=_user(user)
                )
        self.stdout.write(
            f"rollout {rollout.pk}: {rollout.candidate.model_id} is {rollout.state} ({rollout.traffic_percent}%)"
        )
