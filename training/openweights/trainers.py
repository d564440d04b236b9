"""TRL trainers built from a run's config: the seed's knobs become TRL's (kl_penalty → beta, batch_size,
episode_length → completion length and tool-call depth, reward_scaling → reward weights)."""

from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from training.openweights import data, rewards
from training.openweights.runner import JobCallback, dataset_rows
from zeke_rft.errors import ApplicationError


def common_args(config: dict, output_dir: Path) -> dict:
    trl = config["trl"]
    gpu = torch.cuda.is_available()
    steps = {"max_steps": trl["max_steps"]} if trl["max_steps"] else {}
    epochs = config["hyperparameters"].get("n_epochs")
    return steps | {
        "output_dir": str(output_dir),
        "use_cpu": not gpu,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "report_to": "none",
        "gradient_checkpointing": False,
        "per_device_train_batch_size": config["batch_size"],
        "num_train_epochs": epochs if isinstance(epochs, int) else 1,
        "learning_rate": trl["learning_rate"],
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": trl["save_steps"],
        "save_only_model": True,
        "seed": config.get("seed", 42),
        "disable_tqdm": True,
    }


def peft_config(config: dict):
    if not config["trl"]["lora"]:
        return None
    return LoraConfig(r=config["trl"]["lora_r"], lora_alpha=2 * config["trl"]["lora_r"], target_modules="all-linear")


def completion_length(config: dict) -> int:
    """episode_length is the tool-call depth; each call may take about 128 tokens unless the config says."""
    return config["trl"]["max_completion_length"] or min(4096, 128 * config["episode_length"])


def _reward_setup(config: dict, recorder) -> tuple[list, list[float]]:
    from rewards.selectors import reward_model_active

    judge = rewards.judge_client()
    reward_model = reward_model_active()
    plan = rewards.reward_plan(config=config, judge=judge is not None, reward_model=reward_model is not None)
    for note in plan["notes"]:
        recorder.event(note, level="warning")
    if not plan["functions"]:
        raise ApplicationError("no reward function is left to train on: " + "; ".join(plan["notes"]))
    weights = [{"name": f["name"], "weight": f["weight"]} for f in plan["functions"]]
    recorder.event(
        "reward functions: " + ", ".join(f"{w['name']}×{w['weight']}" for w in weights),
        data={"reward_functions": weights},
    )
    score_model = rewards.judge_score_model(judge, model=_judge_model()) if judge is not None else None
    return rewards.reward_functions(
        plan, depth=config["episode_length"], reward_model=reward_model, score_model=score_model
    )


def _judge_model() -> str:
    from django.conf import settings

    return settings.TRL_JUDGE_MODEL


def grpo_trainer(job, config: dict, model, tokenizer, output_dir: Path, recorder):
    rows = data.grpo_rows(dataset_rows(job, "train"))
    if not rows:
        raise ApplicationError("the dataset's train split is empty")
    functions, weights = _reward_setup(config, recorder)
    args = GRPOConfig(
        **common_args(config, output_dir),
        beta=config["kl_penalty"],
        num_generations=config["trl"]["num_generations"],
        max_completion_length=completion_length(config),
        temperature=config["trl"]["temperature"],
        reward_weights=weights,
    )
    return GRPOTrainer(
        model=model,
        reward_funcs=functions,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config(config),
    )


def dpo_trainer(job, config: dict, model, tokenizer, output_dir: Path, recorder):
    rows = data.dpo_rows(dataset_rows(job, "preferences_train"))
    if not rows:
        raise ApplicationError("the dataset has no preference pairs (reviewer corrections or A/B choices) for DPO")
    beta = config["kl_penalty"] or 0.1
    if not config["kl_penalty"]:
        recorder.event("kl_penalty 0 cannot be DPO's beta: using 0.1", level="warning")
    # keep_end: a long system prompt loses its start, never the replies (keep_start drops such pairs entirely).
    length = {"max_length": config["trl"]["max_length"], "truncation_mode": "keep_end"}
    args = DPOConfig(**common_args(config, output_dir), beta=beta, **length)
    return DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config(config),
    )


def sft_warm_start(job, config: dict, model, tokenizer, output_dir: Path, recorder, callbacks: list):
    """A few supervised steps on the dataset's supervised export before RL; returns the (merged) model."""
    rows = data.sft_rows(dataset_rows(job, "supervised_train"))
    if not rows:
        recorder.event("SFT warm start skipped: no supervised rows", level="warning")
        return model
    arguments = common_args(config, output_dir) | {"max_steps": config["trl"]["sft_warm_start_steps"]}
    arguments |= {"save_strategy": "no", "max_length": config["trl"]["max_length"]}
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**arguments),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config(config),
    )
    for callback in [JobCallback(job, recorder, method="sft", phase="sft"), *callbacks]:
        trainer.add_callback(callback)
    trainer.train()
    trained = trainer.model
    return trained.merge_and_unload() if config["trl"]["lora"] else trained
