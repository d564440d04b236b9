from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rewards.services import reward_model_train
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Train a reward model on every score card and preference, evaluate it, and promote it if it is better."

    def add_arguments(self, parser):
        parser.add_argument("--no-promote", action="store_true", help="keep the new version as a candidate")
        parser.add_argument("--seed", type=int, help="random seed (bootstrap resamples)")
        parser.add_argument("--members", type=int, help="bootstrap ensemble size")

    def handle(self, *args, **options):
        hyperparameters = {k: options[k] for k in ("seed", "members") if options.get(k) is not None}
        try:
            reward_model, created = reward_model_train(
                hyperparameters=hyperparameters, promote=not options["no_promote"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise CommandError(f"--{field}: {messages[0]}") from exc
        overall = reward_model.metrics.get("overall", {})
        verb = "trained" if created else "already trained on this data:"
        self.stdout.write(f"{verb} {reward_model.version} ({reward_model.status}) {reward_model.status_reason}")
        self.stdout.write(
            f"held-out: {overall.get('n', 0)} traces, spearman {overall.get('spearman')}, MAE {overall.get('mae')}; "
            f"{overall.get('n_pairs', 0)} pairs, pairwise accuracy {overall.get('pairwise_accuracy')}, "
            f"ECE {overall.get('ece')}"
        )
        for domain, row in reward_model.metrics.get("by_domain", {}).items():
            self.stdout.write(
                f"  {domain:<14} n={row.get('n', 0):<5} spearman={row.get('spearman')} mae={row.get('mae')} "
                f"pairs={row.get('n_pairs', 0)} acc={row.get('pairwise_accuracy')}"
            )
