"""The `trl` section of a run's config: defaults, overrides and checks (ValidationError names the field)."""

from django.core.exceptions import ValidationError

METHODS = ("grpo", "dpo")
NUMBERS = {
    "lora_r": (int, 1, 256),
    "learning_rate": (float, 0.0, 1.0),
    "max_steps": (int, 1, 10_000_000),
    "num_generations": (int, 2, 64),
    "max_completion_length": (int, 1, 32_768),
    "max_length": (int, 16, 131_072),
    "temperature": (float, 0.0, 5.0),
    "sft_warm_start_steps": (int, 0, 10_000_000),
    "save_steps": (int, 1, 10_000_000),
}


def trl_config_default() -> dict:
    """max_steps None: train config.hyperparameters.n_epochs epochs; max_completion_length None: 128 tokens per
    tool call of episode_length."""
    return {
        "method": "grpo",
        "lora": True,
        "lora_r": 16,
        "learning_rate": 1e-5,
        "max_steps": None,
        "num_generations": 4,
        "max_completion_length": None,
        "max_length": 1024,
        "temperature": 1.0,
        "sft_warm_start_steps": 0,
        "save_steps": 50,
        "reward_weights": {},
    }


def _number(field: str, value, rule) -> None:
    kind, low, high = rule
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if not ok or not low <= value <= high:
        raise ValidationError({field: f"must be {'an integer' if kind is int else 'a number'} in [{low}, {high}]"})


def _check(key: str, value) -> None:
    field = f"config.trl.{key}"
    if key == "method" and value not in METHODS:
        raise ValidationError({field: f"must be one of {', '.join(METHODS)}"})
    if key == "lora" and not isinstance(value, bool):
        raise ValidationError({field: "must be true or false"})
    if key == "reward_weights":
        if not isinstance(value, dict):
            raise ValidationError({field: "must be an object of reward function name → weight"})
        for name, weight in value.items():
            _number(f"{field}.{name}", weight, (float, 0.0, 100.0))
    if key in NUMBERS and not (value is None and key in ("max_steps", "max_completion_length")):
        _number(field, value, NUMBERS[key])


def trl_config_resolve(overrides, *, batch_size: int) -> dict:
    """Defaults + overrides; GRPO's num_generations must divide batch_size (TRL groups each prompt's samples)."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ValidationError({"config.trl": "must be an object"})
    config = trl_config_default()
    for key, value in overrides.items():
        if key not in config:
            raise ValidationError({f"config.trl.{key}": f"unknown setting (known: {', '.join(sorted(config))})"})
        _check(key, value)
        config[key] = value
    if config["method"] == "grpo" and batch_size % config["num_generations"]:
        raise ValidationError({"config.trl.num_generations": f"must divide config.batch_size ({batch_size}) for GRPO"})
    return config
