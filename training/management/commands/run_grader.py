"""`python manage.py run_grader --dataset HASH [--split validation] [--grader FILE] [--limit N]
[--replies original|policy|reference] [--policy MODEL_ID]`."""

import json
import statistics

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.graders import GraderError, grader_from_rubric, grader_offline
from training.grading import SOURCES, dataset_grade
from training.models import DatasetStatus
from training.selectors import dataset_get, rubric_current
from zeke_rft.errors import ApplicationError
from zeke_rft.storage import get_storage


class Command(BaseCommand):
    help = (
        "Score replies to a dataset's examples with the grader, offline, and report the distribution: the traces' "
        "original replies (default), a policy's sampled replies (--policy), or the references themselves."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--split", choices=["train", "validation"], default="train")
        parser.add_argument("--grader", default=None, help="JSON file with a grader (default: the rubric's grader)")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--replies", choices=SOURCES, default=None, help="default: original (policy with --policy)")
        parser.add_argument("--policy", default=None, help="model id whose sampled replies are graded")

    def handle(self, *args, dataset, split, grader, limit, replies, policy, **options):
        if limit is not None and limit < 1:
            raise CommandError(f"--limit must be at least 1, got {limit}")
        replies = replies or ("policy" if policy else "original")
        if replies == "policy" and not (policy or "").strip():
            raise CommandError("--policy: give the model id whose replies to grade")
        try:
            build = dataset_get(sha=dataset)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.message_dict["dataset"])) from exc
        entry = build.files.get(split)
        if build.status != DatasetStatus.SUCCEEDED or not entry:
            raise CommandError(
                f"dataset {build.sha256[:12]} has no {split} file ({build.status}: {build.error or '-'})"
            )
        grader_json = self._grader(grader) if grader else self._rubric_grader()
        lines = get_storage().read_bytes(entry["key"]).decode().splitlines()[:limit]
        examples = [json.loads(line) for line in lines]
        try:
            scores = dataset_grade(examples=examples, grader=grader_offline(grader_json), source=replies, model=policy)
        except GraderError as exc:
            raise CommandError(f"grader failed: {exc}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if not scores:
            raise CommandError(f"dataset {build.sha256[:12]} has no {split} examples")
        label = {"original": "original replies", "reference": "reference answers"}.get(replies, f"replies of {policy}")
        self.stdout.write(self.report(scores, build=build, split=split, label=label))

    def _rubric_grader(self) -> dict:
        rubric = rubric_current()
        return grader_from_rubric(rubric=rubric.dimensions if rubric else None)

    def _grader(self, path: str) -> dict:
        try:
            with open(path) as handle:
                value = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--grader {path}: {exc}") from exc
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise CommandError(f'--grader {path}: must hold a grader object with a "type"')
        return value

    def report(self, scores: list[float], *, build, split, label: str) -> str:
        ordered = sorted(scores)
        quantiles = statistics.quantiles(ordered, n=10, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 9
        lines = [
            f"dataset {build.sha256[:12]} {split}: {len(scores)} {label}",
            f"mean {statistics.fmean(scores):.3f}  min {ordered[0]:.3f}  p10 {quantiles[0]:.3f}  "
            f"p50 {quantiles[4]:.3f}  p90 {quantiles[8]:.3f}  max {ordered[-1]:.3f}",
        ]
        for low in range(10):
            count = sum(1 for s in scores if low / 10 <= s < (low + 1) / 10 or (low == 9 and s >= 1.0))
            bracket = "]" if low == 9 else ")"
            bar = "#" * round(40 * count / len(scores))
            lines.append(f"  [{low / 10:.1f}, {(low + 1) / 10:.1f}{bracket} {count:5d} {bar}")
        return "\n".join(lines)
