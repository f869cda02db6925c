"""Registry of providers: a config names a provider, `get_provider` returns the shared instance.

Adding a provider is one module with one class implementing `base.Provider`, plus one line in `_BUILTIN`
(or a `register(...)` call from wherever it lives). Instances are shared across threads, so a provider keeps
only thread-safe state such as a connection cache.
"""

from __future__ import annotations

import threading

from judges.providers.base import (
    BattleContext,
    CompletionRequest,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderResponse,
    TransientProviderError,
    UnknownProviderError,
)
from judges.providers.lexical import LexicalProvider
from judges.providers.openai_compat import OpenAICompatProvider

__all__ = [
    "BattleContext",
    "CompletionRequest",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "TransientProviderError",
    "UnknownProviderError",
    "available",
    "get_provider",
    "register",
]

_BUILTIN: tuple[type, ...] = (OpenAICompatProvider, LexicalProvider)

_registry: dict[str, Provider] = {}
_lock = threading.Lock()


def register(provider_class: type) -> type:
    """Register a provider class under its `name`; usable as a class decorator.

    Registering a second class under a taken name is refused: silently replacing a provider would change
    what existing judge configs call.
    """
    instance = provider_class()
    if not isinstance(instance, Provider):
        raise TypeError(f"{provider_class.__name__} does not implement judges.providers.base.Provider")
    with _lock:
        taken = _registry.get(instance.name)
        if taken is not None and type(taken) is not provider_class:
            raise ValueError(
                f"provider name {instance.name!r} is already registered by {type(taken).__name__}; "
                "pick another name"
            )
        _registry[instance.name] = instance
    return provider_class


def get_provider(name: str) -> Provider:
    """Return the shared instance registered under `name`, or raise `UnknownProviderError` (permanent)."""
    provider = _registry.get(name)
    if provider is None:
        raise UnknownProviderError(
            f"no provider named {name!r}; available providers: {', '.join(available())}",
            provider=name,
        )
    return provider


def available() -> list[str]:
    """Names of all registered providers, sorted (for form choices and error messages)."""
    return sorted(_registry)


for _provider_class in _BUILTIN:
    register(_provider_class)
