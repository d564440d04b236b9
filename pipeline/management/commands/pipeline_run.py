"""`python manage.py pipeline_run --modality chat [--until STEP] [--resume ID] [--cycle C] [--no-wait]`."""

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from pipeline.models import STEP_ORDER, PipelineRun, RunStatus, StepStatus
from pipeline.selectors import pipeline_run_get
from pipeline.services import pipeline_run_advance, pipeline_run_resume, pipeline_run_start
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Run this week's pipeline for a modality in this process: score → recalibrate → dataset → train → "
        "evaluate → shadow → canary → monitor → promote. Prints `STEP STATUS detail` per step; exits 1 when a "
        "step failed. A run waiting on the online guard or an approval is left to the beat sweeper."
    )

    def add_arguments(self, parser):
        parser.add_argument("--modality", default="chat")
        parser.add_argument("--until", choices=STEP_ORDER, default="", help="pause after this step")
        parser.add_argument("--resume", default=None, help="id of a paused or failed run to go on with")
        parser.add_argument("--cycle", default=None, help="cycle name (default: this ISO week, e.g. 2026-W49)")
        parser.add_argument("--no-wait", action="store_true", help="do not wait for training to finish")

    def handle(self, *args, modality, until, resume, cycle, no_wait, **options):
        try:
            if resume is not None:
                run = pipeline_run_resume(run=pipeline_run_get(run_id=resume, field="resume"), until=until)
            else:
                run, created = pipeline_run_start(modality=modality, cycle=cycle, until=until)
                if not created and until != run.until and run.status == RunStatus.PAUSED:
                    run = pipeline_run_resume(run=run, until=until)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        run = self._advance(run, wait=not no_wait)
        self._report(run)

    def _advance(self, run: PipelineRun, *, wait: bool) -> PipelineRun:
        deadline = time.monotonic() + settings.PIPELINE_COMMAND_WAIT_SECONDS
        run = pipeline_run_advance(run_id=run.pk)
        while wait and self._training_pending(run) and time.monotonic() < deadline:
            time.sleep(settings.PIPELINE_POLL_SECONDS)
            run = pipeline_run_advance(run_id=run.pk)
        return run

    def _training_pending(self, run: PipelineRun) -> bool:
        return run.status == RunStatus.WAITING and run.steps.filter(step="train", status=StepStatus.WAITING).exists()

    def _report(self, run: PipelineRun) -> None:
        self.stdout.write(f"pipeline run {run.pk} {run.modality} {run.cycle}")
        for step in run.steps.order_by("position"):
            self.stdout.write(f"{step.step} {step.status} {step.detail}".rstrip())
        self.stdout.write(f"run {run.status}{f': {run.stop_reason}' if run.stop_reason else ''}")
        if run.steps.filter(status=StepStatus.FAILED).exists():
            raise CommandError(f"pipeline run {run.pk} failed: {run.stop_reason}")
