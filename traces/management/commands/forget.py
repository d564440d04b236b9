import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from zeke_rft.forgetting import forget_run


class Command(BaseCommand):
    help = (
        "Forget traces on request: delete them and everything derived from them (score cards, reward events, "
        "label tasks, preferences, rows in Parquet partitions); datasets that included them are marked stale. "
        "The deletion is recorded (who, when, what, how many) without the deleted content."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--conversation", help="a conversation_id: every trace of that conversation")
        which.add_argument("--external-id", help="an agent's external_id (of any agent)")
        which.add_argument("--text", help="every trace containing this value anywhere (case-insensitive)")
        parser.add_argument("--reason", default="", help="why (e.g. the ticket of the request); recorded")
        parser.add_argument("--user", default="", help="the username of who asked for it (default: the OS user)")

    def handle(self, *args, **options):
        selector, value = next(
            (name, options[key])
            for name, key in (("conversation", "conversation"), ("external_id", "external_id"), ("text", "text"))
            if options[key] is not None
        )
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}")
        try:
            record = forget_run(
                selector=selector,
                value=value,
                reason=options["reason"],
                user=user,
                name=options["user"] or getpass.getuser(),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        counts = ", ".join(f"{kind} {number}" for kind, number in record.counts.items())
        self.stdout.write(
            f"Forgot {record.counts.get('traces', 0)} trace(s) by {selector}: {counts} (request #{record.pk})"
        )
