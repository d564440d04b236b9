"""Proof that rewards flow through the open-weights backend. Run: .venv/bin/python bench/trl_learning.py

Task with a clear reward: every prompt asks for the weather in Paris; the reward is the project's tool-call
python grader (training.graders.TOOL_CALLS_GRADER_SOURCE, run through the local runner as the TRL backend
runs it): 1.0 for <tool_call>{"name": "weather_lookup", "arguments": {"city": "Paris"}}</tool_call>, 0.5 for
the right tool with another city, 0 otherwise. A tiny Llama built locally (training.openweights.tiny_model)
first learns the call *format* by SFT on calls of random tools with random cities (so it starts near chance),
then GRPO with the backend's reward functions and trainer settings (training.openweights.trainers.common_args)
must raise the mean reward. Prints the mean reward per 10 steps and seconds per step.

Needs the training extra (make install-train). BENCH_TRL_STEPS (default 60), BENCH_TRL_SFT_STEPS (200).
"""

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # settings refuse to start without one (DEBUG off)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

import django  # noqa: E402

django.setup()

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer  # noqa: E402

from training import graders  # noqa: E402
from training.openweights import data, rewards, trainers  # noqa: E402
from training.openweights.tiny_model import CITIES, TOOLS, tiny_model_build  # noqa: E402

STEPS = int(os.environ.get("BENCH_TRL_STEPS", 60))
SFT_STEPS = int(os.environ.get("BENCH_TRL_SFT_STEPS", 200))
TARGET = {"name": "weather_lookup", "args": {"city": "Paris"}}
PHRASES = ["What's the weather in Paris?", "Weather for Paris please", "Is it raining in Paris?", "Paris forecast?"]


def _config() -> dict:
    trl = {"method": "grpo", "lora": False, "lora_r": 8, "learning_rate": 5e-4, "max_steps": STEPS}
    trl |= {"num_generations": 8, "max_completion_length": 32, "max_length": 512, "temperature": 0.7}
    trl |= {"sft_warm_start_steps": SFT_STEPS, "save_steps": 10_000, "reward_weights": {}}
    return {"trl": trl, "batch_size": 8, "episode_length": 1, "seed": 7, "hyperparameters": {"n_epochs": 1}}


def _rows() -> list[dict]:
    # Short prompts (the format in one line, no JSON schemas): a tiny model on a loaded CPU needs short sequences.
    system = {"role": "developer", "content": data.TOOL_FORMAT}
    return [
        {"messages": [system, {"role": "user", "content": phrase}], "expected_tool_calls": [TARGET]}
        for phrase in PHRASES
    ]


def _sft_rows(rows: list[dict]) -> list[dict]:
    rng = random.Random(3)
    result = []
    for index in range(64):
        row = rows[index % len(rows)]
        call = {"name": rng.choice(TOOLS), "args": {"city": rng.choice(CITIES)}}
        prompt = data.prompt_messages(row["messages"])
        result.append({"messages": prompt + [{"role": "assistant", "content": data.tool_calls_text([call])}]})
    return result


class RewardLog(TrainerCallback):
    def __init__(self):
        self.rewards, self.started, self.seconds = [], None, []

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self.started)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "reward" in logs:
            self.rewards.append(float(logs["reward"]))


def _warm_start(model, tokenizer, rows, config, folder):
    arguments = trainers.common_args(config, Path(folder) / "sft") | {"max_steps": SFT_STEPS, "save_strategy": "no"}
    arguments |= {"learning_rate": 3e-3, "max_length": 256, "logging_steps": 10}
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**arguments),
        train_dataset=Dataset.from_list(_sft_rows(rows)),
        processing_class=tokenizer,
    )
    trainer.train()
    return trainer.model


def main():
    config = _config()
    folder = tempfile.mkdtemp(prefix="zeke-trl-bench-")
    path = tiny_model_build(Path(folder) / "tiny", hidden_size=64, layers=2)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    rows = _rows()
    started = time.perf_counter()
    model = _warm_start(model, tokenizer, rows, config, folder)
    sft_seconds = time.perf_counter() - started
    tool_calls = graders.grader_from_rubric(rubric=None)["graders"]["tool_calls"]
    reward = rewards.grader_reward("tool_calls", tool_calls, depth=config["episode_length"])
    args = GRPOConfig(
        **trainers.common_args(config, Path(folder) / "grpo"),
        beta=0.0,
        num_generations=8,
        max_completion_length=trainers.completion_length(config),
        temperature=config["trl"]["temperature"],
    )
    log = RewardLog()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_list(data.grpo_rows(rows * 64)),
        processing_class=tokenizer,
        callbacks=[log],
    )
    trainer.train()
    _report(log, sft_seconds)


def _report(log: RewardLog, sft_seconds: float) -> None:
    print(f"SFT warm start (format only): {SFT_STEPS} steps in {sft_seconds:.1f} s")
    print("GRPO mean reward (tool-call grader) per 10 steps:")
    blocks = [log.rewards[start : start + 10] for start in range(0, len(log.rewards), 10)]
    means = [sum(block) / len(block) for block in blocks if block]
    for index, mean in enumerate(means):
        print(f"  steps {index * 10 + 1:>3}-{index * 10 + len(blocks[index]):>3}: {mean:.3f}")
    steady = sorted(log.seconds)[len(log.seconds) // 2] if log.seconds else 0.0
    print(f"seconds per GRPO step: median {steady:.2f}, mean {sum(log.seconds) / max(1, len(log.seconds)):.2f}")
    rose = len(means) >= 2 and means[-1] > means[0]
    print(json.dumps({"first_block": round(means[0], 3), "last_block": round(means[-1], 3), "rose": rose}))
    if not rose:
        sys.exit("the mean reward did not rise")


if __name__ == "__main__":
    main()
