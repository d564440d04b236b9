"""`python manage.py create_agent NAME [--modality chat|voice|sms]`: the token is the last line printed."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from traces.models import Modality
from traces.services import agent_create


class Command(BaseCommand):
    help = "Create an agent and print its API token (shown once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--modality", default=Modality.CHAT, help=f"One of {', '.join(Modality.values)}.")

    def handle(self, *args, name, modality, **options):
        try:
            agent, token = agent_create(name=name, modality=modality)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items())) from None
        self.stdout.write(f"Created agent {agent.name!r} ({agent.modality}). Its token, shown only now:")
        self.stdout.write(token)
