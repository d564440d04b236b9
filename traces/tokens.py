"""Agent API tokens: generated once, stored only as sha256."""

import hashlib
import secrets

TOKEN_PREFIX = "zk_"


def token_generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
