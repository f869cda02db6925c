"""Registry of providers: a config names a provider, `get_provider` returns the shared instance.

Adding a provider is one module with one class implementing `base.Provider`, plus one line in `_BUILTIN`
(or a `register(...)` call from wherever it lives). Instances are shared across threads, so a provider keeps
only thread-safe state such as a connection cache.

Built-in providers are imported on first use, not with this package: `judges.models` imports
`judges.providers.base`, so every Django process (even file-only commands such as `rate`) imports this
package, and importing the `openai` SDK is a large share of a short command's start-up
(`tests/test_startup_imports.py` checks that `rate` never imports it).
"""

from __future__ import annotations

import importlib
import threading

from judges.providers.base import (
    BattleContext,
    CompletionRequest,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderResponse,
    StreamingProvider,
    TransientProviderError,
    UnknownProviderError,
)

__all__ = [
    "BattleContext",
    "CompletionRequest",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "StreamingProvider",
    "TransientProviderError",
    "UnknownProviderError",
    "available",
    "get_provider",
    "register",
]

# name -> (module, class): imported and registered when that name is first asked for.
_BUILTIN: dict[str, tuple[str, str]] = {
    "openai": ("judges.providers.openai_compat", "OpenAICompatProvider"),
    "lexical": ("judges.providers.lexical", "LexicalProvider"),
}

_registry: dict[str, Provider] = {}
# Reentrant: loading a built-in registers it while the lock is held.
_lock = threading.RLock()


def register(provider_class: type) -> type:
    """Register a provider class under its `name`; usable as a class decorator.

    Registering a second class under a taken name is refused: silently replacing a provider would change
    what existing judge configs call.
    """
    instance = provider_class()
    if not isinstance(instance, Provider):
        raise TypeError(f"{provider_class.__name__} does not implement judges.providers.base.Provider")
    with _lock:
        builtin = _BUILTIN.get(instance.name)
        if builtin and builtin != (provider_class.__module__, provider_class.__qualname__):
            _builtin_load(instance.name)  # so a clash with a not-yet-loaded built-in is still refused
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
    if provider is None and name in _BUILTIN:
        provider = _builtin_load(name)
    if provider is None:
        raise UnknownProviderError(
            f"no provider named {name!r}; available providers: {', '.join(available())}",
            provider=name,
        )
    return provider


def available() -> list[str]:
    """Names of all registered providers, sorted (for form choices and error messages)."""
    return sorted(set(_registry) | set(_BUILTIN))


def _builtin_load(name: str) -> Provider:
    """The built-in provider `name`, imported and registered on first use (once, under the lock)."""
    with _lock:
        if name not in _registry:
            module_name, class_name = _BUILTIN[name]
            register(getattr(importlib.import_module(module_name), class_name))
        return _registry[name]
