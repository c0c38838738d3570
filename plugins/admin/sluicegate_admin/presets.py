"""Vendor presets for the console's "Add model" dialog: what each vendor's provider table needs.

A preset names a provider *type*, never headers: the type's adapter is what sends the vendor's
auth and version headers (``openai``: ``Authorization: Bearer``; ``anthropic``: ``x-api-key``
and ``anthropic-version``; ``dashscope``: ``Authorization: Bearer`` and ``X-DashScope-SSE`` on
streams), so a provider added from a preset cannot get them wrong. A preset whose type is not
installed is listed as unavailable, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from attrs import define, field


@define(frozen=True, kw_only=True)
class Preset:
    id: str  # also the provider id the dialog suggests
    label: str
    type: str
    base_url: str  # "" when the operator must give one
    models: tuple[str, ...] = field(default=(), converter=tuple)
    # The variable that holds the key; None: the preset needs none (a local server), or, for the
    # custom preset, the client derives "<ID>_API_KEY" from the provider id.
    key_env: str | None = None
    # A provider from this preset may be written with no key line at all.
    key_optional: bool = False
    note: str | None = None
    # The note shown instead while the type is not installed.
    missing_note: str | None = None


#: The id of the "any OpenAI-compatible server" preset.
CUSTOM = "custom"

PRESETS: tuple[Preset, ...] = (
    Preset(id="openai", label="OpenAI", type="openai", base_url="https://api.openai.com/v1",
           models=("gpt-4o-mini", "gpt-4o"), key_env="OPENAI_API_KEY"),
    Preset(id="anthropic", label="Anthropic", type="anthropic", base_url="https://api.anthropic.com/v1",
           models=("claude-sonnet-4-5", "claude-haiku-4-5"), key_env="ANTHROPIC_API_KEY"),
    Preset(id="deepseek", label="DeepSeek", type="openai", base_url="https://api.deepseek.com/v1",
           models=("deepseek-chat", "deepseek-reasoner"), key_env="DEEPSEEK_API_KEY"),
    Preset(id="qwen", label="Qwen (DashScope native)", type="dashscope",
           base_url="https://dashscope.aliyuncs.com/api/v1", models=("qwen-plus", "qwen-max", "qwen-turbo"),
           key_env="DASHSCOPE_API_KEY",
           note="Beijing region; for a Singapore key use https://dashscope-intl.aliyuncs.com/api/v1."),
    Preset(id="qwen-compat", label="Qwen (compatible mode)", type="openai",
           base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
           models=("qwen-plus", "qwen-max", "qwen-turbo"), key_env="DASHSCOPE_API_KEY",
           note="Beijing region; for a Singapore key use "
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1."),
    Preset(id="gemini", label="Gemini", type="openai",
           base_url="https://generativelanguage.googleapis.com/v1beta/openai",
           models=("gemini-2.5-flash", "gemini-2.5-pro"), key_env="GEMINI_API_KEY",
           note="Through Gemini's OpenAI-compatible endpoint."),
    # Azure takes its key in an "api-key" header (and, before its v1 API, the deployment in the
    # path with an api-version query); the openai type sends "Authorization: Bearer", so Azure is
    # offered only once a provider type of its own ("azure") is installed.
    Preset(id="azure", label="Azure OpenAI", type="azure",
           base_url="https://YOUR-RESOURCE.openai.azure.com/openai/v1", key_env="AZURE_OPENAI_API_KEY",
           note="Models are your deployment names.",
           missing_note="Azure OpenAI needs a provider type of its own (its api-key header), "
                        "which is not installed yet."),
    Preset(id="ollama", label="Ollama", type="openai", base_url="http://localhost:11434/v1",
           models=("llama3.2",), key_optional=True, note="A local server: no key needed."),
    Preset(id="vllm", label="vLLM", type="openai", base_url="http://localhost:8000/v1", key_optional=True,
           note="A local server: no key needed unless it was started with --api-key. "
                "Models are the names it serves (GET /v1/models)."),
    Preset(id=CUSTOM, label="OpenAI-compatible", type="openai", base_url="",
           note="Any server that speaks the OpenAI API: give its base URL; the key variable is "
                "<ID>_API_KEY from the provider id."),
)

BY_ID = {preset.id: preset for preset in PRESETS}


def unavailable_reason(preset: Preset, installed_types: Collection[str]) -> str | None:
    """Why ``preset`` cannot be used on this gateway, or None when it can."""
    if preset.type in installed_types:
        return None
    return preset.missing_note or f"The provider type {preset.type!r} is not installed (install its plugin)."


def preset_view(preset: Preset, installed_types: Collection[str]) -> dict[str, Any]:
    why = unavailable_reason(preset, installed_types)
    return {
        "id": preset.id,
        "label": preset.label,
        "type": preset.type,
        "base_url": preset.base_url,
        "models": list(preset.models),
        "key_env": preset.key_env,
        "key_optional": preset.key_optional,
        "available": why is None,
        "note": why if why is not None else preset.note,
    }


def env_name_for(provider_id: str) -> str:
    """The key variable a custom provider gets: ``my-vendor.eu`` -> ``MY_VENDOR_EU_API_KEY``."""
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in provider_id.upper())
    return f"{cleaned}_API_KEY"
