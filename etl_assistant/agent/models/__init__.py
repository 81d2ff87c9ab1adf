"""The chat model factory: the offline planner (default) or any OpenAI-compatible endpoint."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError


def get_chat_model(settings: Settings) -> BaseChatModel:
    if settings.model == "openai":
        return _openai_model(settings)
    from etl_assistant.agent.models.offline import OfflinePlanner

    return OfflinePlanner(settings=settings)


def _openai_model(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if settings.llm_base_url is None and settings.llm_api_key is None:
        raise EtlError(
            "The openai model needs ETLA_LLM_API_KEY (or OPENAI_API_KEY), and ETLA_LLM_BASE_URL for a "
            "non-OpenAI endpoint; set them or use ETLA_MODEL=offline."
        )
    # Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) accept any key.
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=api_key,
        temperature=0,
        max_retries=1,
        timeout=120,
        stream_usage=True,
    )
