"""A tiny Llama and a byte-level BPE tokenizer built locally (nothing downloaded), for tests and the bench.

`python -m training.openweights.tiny_model PATH` saves one to PATH for trying the TRL backend on a laptop.
"""

import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|end|>", "<|system|>", "<|developer|>", "<|user|>", "<|assistant|>", "<|tool|>"]
TOOLS = ["weather_lookup", "calendar_create", "email_send", "notes_add"]
CITIES = ["Paris", "Oslo", "Lima", "Rome"]
# Tool calls in the Hermes format the backend reads, so BPE merges them into few tokens (short sequences).
CORPUS = [
    f'<tool_call>{{"name": "{tool}", "arguments": {{"city": "{city}"}}}}</tool_call>'
    for tool in TOOLS
    for city in CITIES
] + [
    '<tool_call>{"name": "calendar_create", "arguments": {"title": "Dentist", "minutes": 30}}</tool_call>',
    'To call a tool, write <tool_call>{"name": NAME, "arguments": {...}}</tool_call>.',
    "Booked Luigi's for two at 7pm. Your meeting moved to Thursday. Done, the reminder is set.",
    "I can't help with moving money or deleting data without authorization.",
    "Tools: function name arguments type object properties required string integer city title",
    "What's the weather in Paris? Weather for Paris please. Is it raining in Paris? Paris forecast?",
]


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    # No word splitting: merges may span punctuation, so a whole tool call is a few tokens.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=330, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<|end|>")
    fast.padding_side = "left"
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model_build(path: str | Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Save a randomly initialised Llama (hidden 64, 2 layers) and its tokenizer to `path`; returns the path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


if __name__ == "__main__":
    print(tiny_model_build(sys.argv[1] if len(sys.argv) > 1 else "var/tiny-model"))
