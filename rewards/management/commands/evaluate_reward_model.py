from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rewards.models import RewardModel
from rewards.selectors import reward_model_active
from rewards.services import pairs_accuracy, reward_model_evaluate
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Evaluate a reward model (the active one by default) on the held-out split, or with --pairs "
        "print its pairwise accuracy on a JSONL file of prompt/chosen/rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", dest="model_version", help="reward model version (default: the active one)")
        parser.add_argument("--pairs", help="JSONL file, one {prompt, chosen, rejected} per line")

    def _reward_model(self, version):
        if version:
            try:
                return RewardModel.objects.get(version=version)
            except RewardModel.DoesNotExist as exc:
                raise CommandError(f"--model: no reward model {version!r}") from exc
        reward_model = reward_model_active()
        if reward_model is None:
            raise CommandError("no reward model is active: pass --model VERSION or train one")
        return reward_model

    def handle(self, *args, **options):
        reward_model = self._reward_model(options["model_version"])
        try:
            if options["pairs"]:
                self._pairs(reward_model, Path(options["pairs"]))
            else:
                self._held_out(reward_model)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _pairs(self, reward_model, path: Path):
        if not path.is_file():
            raise CommandError(f"--pairs: no such file {path}")
        with path.open("rb") as handle:  # decoded line by line: a bad line is reported, not fatal
            result = pairs_accuracy(lines=handle, reward_model=reward_model)
        for error in result["errors"]:
            self.stderr.write(f"{path}:{error['line']}: {error['message']} (skipped)")
        if not result["n_pairs"]:
            raise CommandError(f"--pairs: no valid prompt/chosen/rejected line in {path}")
        self.stdout.write(
            f"pairwise accuracy: {result['pairwise_accuracy']} on {result['n_pairs']} pairs "
            f"(model {result['reward_model']}, ECE {result['ece']})"
        )

    def _held_out(self, reward_model):
        metrics = reward_model_evaluate(reward_model=reward_model)
        overall = metrics["overall"]
        self.stdout.write(
            f"{reward_model.version} on the held-out split: {overall['n']} traces, spearman {overall['spearman']}, "
            f"MAE {overall['mae']}; {overall['n_pairs']} pairs, pairwise accuracy {overall['pairwise_accuracy']}, "
            f"ECE {overall['ece']}"
        )
        for domain, row in metrics["by_domain"].items():
            self.stdout.write(
                f"  {domain:<14} n={row['n']:<5} spearman={row['spearman']} mae={row['mae']} "
                f"pairs={row['n_pairs']} acc={row['pairwise_accuracy']}"
            )
