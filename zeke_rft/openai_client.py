"""The one place that builds an `openai` client from settings (plain OpenAI or Azure OpenAI)."""

from django.conf import settings

from zeke_rft.errors import ApplicationError


def openai_client(*, max_retries: int | None = None):
    """Return an OpenAI or AzureOpenAI client; refuse clearly when no API key is configured."""
    import openai

    if not settings.OPENAI_API_KEY:
        raise ApplicationError(
            "No OpenAI API key is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL or "
            "OPENAI_AZURE_ENDPOINT + OPENAI_API_VERSION for Azure) to use the RFT backend.",
            status=503,
        )
    retries = settings.OPENAI_MAX_RETRIES if max_retries is None else max_retries
    if settings.OPENAI_AZURE_ENDPOINT:
        return openai.AzureOpenAI(
            api_key=settings.OPENAI_API_KEY,
            azure_endpoint=settings.OPENAI_AZURE_ENDPOINT,
            api_version=settings.OPENAI_API_VERSION or "2025-04-01-preview",
            max_retries=retries,
            timeout=settings.OPENAI_TIMEOUT_SECONDS,
        )
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL or None,
        max_retries=retries,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
    )


def policy_client(policy_config: dict | None = None, *, max_retries: int | None = None):
    """The client that reaches a policy: the OpenAI-compatible server its config names as `base_url` (a
    self-served open-weights model: vLLM, llama.cpp, TGI; no OpenAI key needed), else openai_client()."""
    base_url = (policy_config or {}).get("base_url")
    if not base_url:
        return openai_client(max_retries=max_retries)
    import openai

    return openai.OpenAI(
        api_key=settings.TRL_SERVE_API_KEY or "none",
        base_url=base_url,
        max_retries=settings.OPENAI_MAX_RETRIES if max_retries is None else max_retries,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
    )
