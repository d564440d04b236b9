"""`python manage.py build_dataset [--stage 1|2|3] [--modality chat]`: build (or find) a versioned RFT dataset.
Without --stage it builds the curriculum's next stage, as the pipeline's `dataset` step does."""

from django.core.management.base import BaseCommand, CommandError

from training.services import curriculum_next_stage, dataset_build
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Build the RFT dataset for a curriculum stage and modality (same inputs → same hash, no new build)."

    def add_arguments(self, parser):
        parser.add_argument("--stage", type=int, choices=[1, 2, 3], default=None, help="default: the curriculum's")
        parser.add_argument("--modality", choices=["chat", "voice", "sms"], default="chat")

    def handle(self, *args, stage, modality, **options):
        stage = stage or curriculum_next_stage(modality=modality)
        try:
            build, created = dataset_build(stage=stage, modality=modality)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        counts = build.manifest["counts"]
        self.stdout.write(
            f"{'built' if created else 'unchanged, existing build'} {build.sha256} "
            f"(stage {build.stage}, {build.modality}, reward model {build.reward_model_version or '-'}): "
            f"{counts['train']} train, {counts['validation']} validation, "
            f"{counts['duplicates_removed']} duplicates removed"
        )
        for name, entry in sorted(build.files.items()):
            self.stdout.write(f"  {name}: {entry['rows']} rows  {entry['key']}  sha256 {entry['sha256'][:16]}")
