"""`python manage.py start_training --dataset HASH [--backend openai|trl] [--base-model ID] [--config FILE]`
(`--wait` polls the run to the end)."""

import json
import time

from celery.exceptions import Retry
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.backends import BACKENDS
from training.models import TERMINAL_TRAINING_STATUSES
from training.selectors import dataset_get
from training.services import training_run_create, training_run_poll
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Submit an RFT job for a dataset build (openai needs OPENAI_API_KEY; trl needs the training extra); "
        "--wait polls it to the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset hash (or a unique prefix)")
        parser.add_argument("--backend", default=None, choices=sorted(BACKENDS), help="default: TRAINING_BACKEND")
        parser.add_argument("--base-model", default=None)
        parser.add_argument("--config", default=None, help="JSON file with config overrides")
        parser.add_argument("--wait", action="store_true", help="poll until the job finishes")
        parser.add_argument("--poll-seconds", type=float, default=30.0)

    def handle(self, *args, dataset, backend, base_model, config, wait, poll_seconds, **options):
        if poll_seconds < 0:
            raise CommandError(f"--poll-seconds must be 0 or more, got {poll_seconds:g}")
        try:
            overrides = self._config(config)
            build = dataset_get(sha=dataset)
            run = training_run_create(dataset=build, base_model=base_model, config=overrides, backend=backend)
            run.refresh_from_db()
            self.stdout.write(f"run {run.pk}: {run.status} job {run.job_id or '-'} ({run.base_model})")
            while wait and run.job_id and run.status not in TERMINAL_TRAINING_STATUSES:
                time.sleep(poll_seconds)
                run = training_run_poll(run_id=run.pk)
                self.stdout.write(f"run {run.pk}: {run.status} ({run.metrics.get('steps', 0)} steps)")
            if wait and run.job_id:
                run = training_run_poll(run_id=run.pk)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except Retry as exc:  # eager Celery: the submission hit a transient backend error
            raise CommandError(
                f"the backend is unavailable ({exc.exc}); the run stays pending and the poll sweeper submits it again"
            ) from exc
        if run.status == "failed":
            raise CommandError(f"run {run.pk} failed: {run.error}")
        if run.fine_tuned_model:
            self.stdout.write(f"fine-tuned model {run.fine_tuned_model} registered as a candidate policy")

    def _config(self, path):
        if not path:
            return None
        try:
            with open(path) as handle:
                value = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--config {path}: {exc}") from exc
        if not isinstance(value, dict):
            raise CommandError(f"--config {path}: must hold a JSON object")
        return value
