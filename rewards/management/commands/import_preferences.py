from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rewards.services import preferences_import_lines
from traces.models import TaskCategory


class Command(BaseCommand):
    help = "Import preference pairs from a JSONL file (one {prompt, chosen, rejected} per line). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL file")
        parser.add_argument(
            "--task-category",
            default=TaskCategory.OTHER,
            choices=TaskCategory.values,
            help="domain for lines without a task_category key",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"file: no such file {path}")
        with path.open("rb") as handle:  # decoded line by line: a bad line is reported, not fatal
            result = preferences_import_lines(lines=handle, task_category=options["task_category"])
        for error in result["errors"]:
            self.stderr.write(f"{path}:{error['line']}: {error['message']}")
        self.stdout.write(
            f"imported {result['created']} new preference(s), {result['existing']} already present, "
            f"{len(result['errors'])} bad line(s)"
        )
        if result["errors"]:
            first = result["errors"][0]
            raise CommandError(
                f"{len(result['errors'])} bad line(s), first at line {first['line']}: {first['message']} "
                "(the good lines were imported)"
            )
