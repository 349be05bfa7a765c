"""LLM providers behind one interface: any OpenAI-compatible chat-completions endpoint (OpenAI,
llama.cpp's or vLLM's server, ...) and Anthropic's messages API.

Clients are injected (tests and users may pass their own); :func:`openai_chat` and
:func:`anthropic_chat` build the official client from a base URL and the name of the environment
variable holding the key, at service start, never at import. Keys never reach logs or errors:
every failure is re-raised as :class:`ProviderError` with the key scrubbed from its message.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class ProviderError(RuntimeError):
    """A provider call failed; ``cause`` is ``timeout`` or ``error``."""

    def __init__(self, message: str, cause: str = "error") -> None:
        super().__init__(message)
        self.cause = cause


class MalformedAnswer(ProviderError):
    """The provider answered, but not with text (empty, wrong shape)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, cause="malformed")


@dataclass(frozen=True)
class Completion:
    """One answer: its text, the tokens billed and the model that wrote it."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    seconds: float


class ChatProvider(ABC):
    """``complete(system, user) -> Completion``; raises :class:`ProviderError`."""

    model: str

    @abstractmethod
    def complete(self, system: str, user: str) -> Completion: ...


def _api_key(variable: str) -> str:
    key = os.environ.get(variable, "")
    if not key:
        raise ValueError(f"explain.provider.api_key_env: the environment variable {variable} is empty; set it to the provider's API key")
    return key


def _failure(error: Exception, secret: str) -> ProviderError:
    """``error`` as a ProviderError whose message cannot contain ``secret``."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    cause = "timeout" if "Timeout" in name else "error"
    text = str(error).replace(secret, "***") if secret else str(error)
    return ProviderError(f"{name}{f' (HTTP {status})' if status else ''}: {text[:300]}", cause=cause)


class OpenAIChat(ChatProvider):
    """Chat completions through an injected ``openai.OpenAI`` client."""

    def __init__(self, client: Any, model: str, max_tokens: int = 160, temperature: float = 0.7, secret: str = "") -> None:
        if max_tokens < 1:
            raise ValueError(f"explain.provider.max_tokens={max_tokens}: use >= 1")
        self.client, self.model, self.max_tokens, self.temperature, self._secret = client, model, max_tokens, temperature, secret

    def complete(self, system: str, user: str) -> Completion:
        start = time.perf_counter()
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except Exception as error:  # noqa: BLE001 - every client failure becomes a fallback
            raise _failure(error, self._secret) from None
        try:
            text = response.choices[0].message.content
            usage = response.usage
            tokens_in, tokens_out = int(usage.prompt_tokens), int(usage.completion_tokens)
        except (AttributeError, IndexError, TypeError, ValueError) as error:
            raise MalformedAnswer(f"the chat completion has no text or usage ({type(error).__name__})") from None
        if not isinstance(text, str) or not text.strip():
            raise MalformedAnswer("the chat completion's text is empty")
        return Completion(text.strip(), tokens_in, tokens_out, str(getattr(response, "model", None) or self.model), time.perf_counter() - start)


class AnthropicChat(ChatProvider):
    """Anthropic messages through an injected ``anthropic.Anthropic`` client (the model's default
    sampling: recent clients no longer take a temperature)."""

    def __init__(self, client: Any, model: str, max_tokens: int = 160, secret: str = "") -> None:
        if max_tokens < 1:
            raise ValueError(f"explain.provider.max_tokens={max_tokens}: use >= 1")
        self.client, self.model, self.max_tokens, self._secret = client, model, max_tokens, secret

    def complete(self, system: str, user: str) -> Completion:
        start = time.perf_counter()
        try:
            response = self.client.messages.create(
                model=self.model,
                system=system,
                messages=[{"role": "user", "content": user}],
                max_tokens=self.max_tokens,
            )
        except Exception as error:  # noqa: BLE001 - every client failure becomes a fallback
            raise _failure(error, self._secret) from None
        try:
            text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
            tokens_in, tokens_out = int(response.usage.input_tokens), int(response.usage.output_tokens)
        except (AttributeError, TypeError, ValueError) as error:
            raise MalformedAnswer(f"the message has no text or usage ({type(error).__name__})") from None
        if not text.strip():
            raise MalformedAnswer("the message's text is empty")
        return Completion(text.strip(), tokens_in, tokens_out, str(getattr(response, "model", None) or self.model), time.perf_counter() - start)


def openai_chat(
    base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 2.0, max_tokens: int = 160, temperature: float = 0.7
) -> OpenAIChat:
    """An :class:`OpenAIChat` on the official client for ``base_url`` (e.g. ``http://127.0.0.1:8080/v1``
    for llama.cpp), the key read from ``api_key_env``; no retries (the time budget is short)."""
    import openai

    key = _api_key(api_key_env)
    client = openai.OpenAI(base_url=base_url, api_key=key, timeout=float(timeout_s), max_retries=0)
    return OpenAIChat(client, model, max_tokens=max_tokens, temperature=temperature, secret=key)


def anthropic_chat(
    model: str, base_url: str | None = None, api_key_env: str = "ANTHROPIC_API_KEY", timeout_s: float = 2.0, max_tokens: int = 160
) -> AnthropicChat:
    """An :class:`AnthropicChat` on the official client (``base_url`` None: Anthropic's API)."""
    import anthropic

    key = _api_key(api_key_env)
    client = anthropic.Anthropic(base_url=base_url, api_key=key, timeout=float(timeout_s), max_retries=0)
    return AnthropicChat(client, model, max_tokens=max_tokens, secret=key)
