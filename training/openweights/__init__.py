"""Open-weights training with TRL (GRPO, DPO, optional SFT warm start), behind training.backends.

Nothing here imports torch at module level except `runner`: the app runs without the
training extra (requirements-train.txt) and says clearly that the backend needs it.
"""
