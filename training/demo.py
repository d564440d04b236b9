"""Demo step for training: build datasets from the demo's rewarded traces; never starts a real job.

Run by `manage.py load_demo` after the labeling and rewards demos; idempotent (the same
inputs give the same dataset hash, so a second run finds the existing builds).
"""

from training.services import dataset_build, dataset_modalities_with_rewards
from zeke_rft.errors import ApplicationError


def demo_load(*, stdout) -> None:
    modalities = dataset_modalities_with_rewards()
    if not modalities:
        stdout.write("training demo: skipped — no eligible traces with rewards yet (run the labeling demo first)")
        return
    built = []
    for modality in modalities:
        for stage in (1, 3):
            try:
                build, created = dataset_build(stage=stage, modality=modality)
            except ApplicationError as exc:
                stdout.write(f"training demo: no stage {stage} {modality} dataset — {exc.message}")
                continue
            counts = build.manifest["counts"]
            stdout.write(
                f"training demo: {'built' if created else 'found'} stage {stage} {modality} dataset "
                f"{build.sha256[:12]} ({counts['train']} train, {counts['validation']} validation)"
            )
            built.append(build)
    if built:
        sha = built[0].sha256[:12]
        stdout.write(
            "training demo: no job started (that needs OPENAI_API_KEY). To train:\n"
            f"  python manage.py run_grader --dataset {sha}\n"
            f"  OPENAI_API_KEY=... python manage.py start_training --dataset {sha} --wait\n"
            "  (against the fake server: python -m tests.fakes.openai_server, then set OPENAI_BASE_URL "
            "to the URL it prints)"
        )
