"""Choosing a proposer by name: ``builtin``, ``random``, ``optuna``, ``gemini[:model]`` or any
LangChain chat model as ``provider:model`` (``openai:gpt-4.1``, ``anthropic:claude-...``,
``ollama:llama3.1`` for a local server).

Models are created here, when a run starts, never at import time; LangChain is imported only
when a chat model is asked for. A missing key or an unknown name is a :class:`ConfigError`
that says what to set or choose.
"""

from __future__ import annotations

import os
from typing import Any

from evorec.errors import ConfigError

__all__ = ["DEFAULT_GEMINI_MODEL", "MODEL_CHOICES", "load_chat_model", "load_proposer"]

DEFAULT_GEMINI_MODEL = "gemini-2.5-pro"

MODEL_CHOICES = (
    "builtin (the built-in search heuristic, no network), random, optuna, "
    f"gemini[:model] (default {DEFAULT_GEMINI_MODEL}, needs GOOGLE_API_KEY), or a LangChain "
    "chat model as provider:model (openai:..., anthropic:..., ollama:... for a local server)"
)

#: Providers' API-key variables, checked before a model is built so the error is ours.
_KEY_FOR = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "together": "TOGETHER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
}

_BUILTIN = ("builtin", "random", "optuna")


def _split(name: str) -> tuple[str, str]:
    text = (name or "").strip()
    if not text:
        raise ConfigError(f"no model name given; choose {MODEL_CHOICES}")
    provider, _, model = text.partition(":")
    return provider.strip().lower(), model.strip()


def load_chat_model(name: str, **kwargs: Any) -> Any:
    """A LangChain chat model from ``gemini[:model]`` or ``provider:model``."""
    provider, model = _split(name)
    if provider in _BUILTIN:
        raise ConfigError(f"{provider!r} is a built-in proposer, not a chat model")
    if provider == "gemini":
        if not os.environ.get("GOOGLE_API_KEY"):
            raise ConfigError(
                "the gemini model needs an API key: set GOOGLE_API_KEY, or choose "
                "--model builtin (the built-in search heuristic, no network)"
            )
        try:
            from langchain_google_genai import ChatGoogleGenerativeAI
        except ImportError:
            raise ConfigError(
                "gemini needs the langchain-google-genai package (pip install langchain-google-genai)"
            ) from None
        try:
            return ChatGoogleGenerativeAI(model=model or DEFAULT_GEMINI_MODEL, **kwargs)
        except Exception as exc:  # noqa: BLE001 - provider errors vary; ours names the fix
            raise ConfigError(
                f"cannot create the gemini model {model or DEFAULT_GEMINI_MODEL!r}: {exc}"
            ) from None
    if not model:
        raise ConfigError(f"unknown model name {name!r}; choose {MODEL_CHOICES}")
    key = _KEY_FOR.get(provider)
    if key and not os.environ.get(key):
        raise ConfigError(
            f"the {provider} model needs an API key: set {key}, or choose --model builtin "
            "(the built-in search heuristic, no network)"
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ConfigError(
            "chat models need the langchain package (pip install langchain)"
        ) from None
    try:
        return init_chat_model(f"{provider}:{model}", **kwargs)
    except ImportError as exc:
        raise ConfigError(
            f"the {provider!r} provider's LangChain package is not installed ({exc}); "
            f"install it or choose {MODEL_CHOICES}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - unknown provider, bad options, missing credentials
        raise ConfigError(
            f"cannot create chat model {name!r}: {exc}; choose {MODEL_CHOICES}"
        ) from None


def load_proposer(name: str, *, seed: int = 0, **llm_options: Any) -> Any:
    """A :class:`~evorec.proposers.Proposer` by name (see the module docstring).

    ``llm_options`` (history_mode, steering, guardrails) go to the LLM proposer.
    """
    from evorec.proposers import BuiltinProposer, LLMProposer, OptunaProposer, RandomProposer

    provider, model = _split(name)
    if provider in _BUILTIN and not model:
        return {"builtin": BuiltinProposer, "random": RandomProposer, "optuna": OptunaProposer}[
            provider
        ](seed)
    if provider in _BUILTIN:
        raise ConfigError(
            f"{provider!r} takes no model part: use --model {provider}; choose {MODEL_CHOICES}"
        )
    if provider != "gemini" and not model:
        raise ConfigError(f"unknown model name {name!r}; choose {MODEL_CHOICES}")
    chat = load_chat_model(name)
    label = (
        f"gemini:{model or DEFAULT_GEMINI_MODEL}" if provider == "gemini" else f"{provider}:{model}"
    )
    return LLMProposer(chat, name=label, **llm_options)
