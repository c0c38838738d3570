"""Vendor presets for the console's "Add model" dialog: what each vendor's provider table needs.

A preset names a provider *type*, never headers: the type's adapter is what sends the vendor's
auth and version headers (``openai``: ``Authorization: Bearer``; ``anthropic``: ``x-api-key``
and ``anthropic-version``; ``gemini``: ``x-goog-api-key``; ``azure``: ``api-key``; ``bedrock``:
a SigV4 signature; ``vertex``: a Google OAuth token), so a provider added from a preset cannot
get them wrong. A preset may ask for keys of its type's own (a region, a project): its
``fields``. A preset whose type is not installed is listed as unavailable, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from attrs import define, field

from sluicegate_admin.preset_fields import ABSOLUTE_PATH, AZURE_API_VERSION, GCP_PROJECT, REGION, PresetField


@define(frozen=True, kw_only=True)
class Preset:
    id: str  # also the provider id the dialog suggests
    label: str
    type: str
    base_url: str  # "" when the operator must give one, or when the type derives it
    # The type works the URL out (from the region) when none is given: no base_url line then.
    base_url_optional: bool = False
    # Shown under the Base URL input, and in the error when a required one is missing.
    base_url_hint: str | None = None
    models: tuple[str, ...] = field(default=(), converter=tuple)
    # The variable that holds the key; None: the preset needs none (a local server), or, for the
    # custom preset, the client derives "<ID>_API_KEY" from the provider id.
    key_env: str | None = None
    # A provider from this preset may be written with no key line at all.
    key_optional: bool = False
    note: str | None = None
    # Keys of the type's own the dialog asks for, written into the new provider table.
    fields: tuple[PresetField, ...] = field(default=(), converter=tuple)


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
    Preset(id="gemini", label="Gemini", type="gemini", base_url="https://generativelanguage.googleapis.com/v1beta",
           models=("gemini-2.5-flash", "gemini-2.5-pro"), key_env="GEMINI_API_KEY",
           note="Google AI Studio's own API (generateContent); the key is sent as x-goog-api-key."),
    Preset(id="gemini-compat", label="Gemini (OpenAI-compatible)", type="openai",
           base_url="https://generativelanguage.googleapis.com/v1beta/openai",
           models=("gemini-2.5-flash", "gemini-2.5-pro"), key_env="GEMINI_API_KEY",
           note="Through Gemini's OpenAI-compatible endpoint."),
    # No default URL: every resource has its own host, and a placeholder that passes the URL
    # check would only fail at the first call.
    Preset(id="azure", label="Azure OpenAI", type="azure", base_url="", key_env="AZURE_OPENAI_API_KEY",
           base_url_hint="The resource endpoint, such as https://YOUR-RESOURCE.openai.azure.com "
                         "(Keys and Endpoint in the Azure portal).",
           note="Models are your deployment names. The key is the resource's key (sent as api-key).",
           fields=(PresetField(name="api_version", label="API version", rule=AZURE_API_VERSION,
                               hint="Empty: the v1 API. A dated version (2024-10-21) uses the classic "
                                    "/openai/deployments/... paths."),)),
    # us-east-1 has the most models on Bedrock, and the us.* cross-region inference profiles.
    Preset(id="bedrock", label="AWS Bedrock", type="bedrock", base_url="", base_url_optional=True,
           base_url_hint="Empty: https://bedrock-runtime.REGION.amazonaws.com. Give one only for a VPC "
                         "endpoint or a proxy.",
           # Newer Claude models are served on demand only through an inference profile (us.*).
           models=("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0",
                   "amazon.nova-pro-v1:0"),
           key_optional=True,
           note="No key needed: calls are signed with AWS credentials from the default chain "
                "(environment variables, shared profile, container or instance role). Leave Key "
                "variable empty, or name one holding a Bedrock API key. Models are model ids or "
                "inference profile ids (us.anthropic.claude-...).",
           fields=(PresetField(name="region", label="Region", rule=REGION, required=True, default="us-east-1",
                               hint="The AWS region of the Bedrock runtime, such as us-east-1 or eu-central-1."),)),
    # us-east5 serves both families (Gemini and Anthropic's Claude) and keeps calls in one
    # region; "global" is the alternative with more capacity and no data residency.
    Preset(id="vertex", label="Vertex AI", type="vertex", base_url="", base_url_optional=True,
           base_url_hint="Empty: https://REGION-aiplatform.googleapis.com/v1 (aiplatform.googleapis.com "
                         "for global).",
           models=("gemini-2.5-flash", "gemini-2.5-pro", "claude-sonnet-4-5@20250929"),
           key_optional=True,
           note="No key needed: Google application default credentials, or a service-account "
                "key file. Leave Key variable empty. Gemini and Claude (model@date) models.",
           fields=(
               PresetField(name="region", label="Region", rule=REGION, required=True, default="us-east5",
                           hint="The Google Cloud region: us-east5 serves Gemini and Claude; global, "
                                "us-central1 and europe-west4 are others."),
               PresetField(name="project", label="Project", rule=GCP_PROJECT,
                           hint="The Google Cloud project id. Empty: the project of the credentials."),
               PresetField(name="credentials_file", label="Credentials file", rule=ABSOLUTE_PATH,
                           hint="The absolute path of a service-account JSON key on the gateway's machine. "
                                "Empty: application default credentials."),
           )),
    Preset(id="ollama", label="Ollama", type="openai", base_url="http://localhost:11434/v1",
           models=("llama3.2",), key_optional=True, note="A local server: no key needed."),
    Preset(id="vllm", label="vLLM", type="openai", base_url="http://localhost:8000/v1", key_optional=True,
           note="A local server: no key needed unless it was started with --api-key. "
                "Models are the names it serves (GET /v1/models)."),
    Preset(id=CUSTOM, label="OpenAI-compatible", type="openai", base_url="",
           base_url_hint="The server's API root, such as https://api.example.com/v1.",
           note="Any server that speaks the OpenAI API: give its base URL; the key variable is "
                "<ID>_API_KEY from the provider id."),
)

BY_ID = {preset.id: preset for preset in PRESETS}


def unavailable_reason(preset: Preset, installed_types: Collection[str]) -> str | None:
    """Why ``preset`` cannot be used on this gateway, or None when it can."""
    if preset.type in installed_types:
        return None
    # Every preset's type is a plugin of this repository, each the distribution sluicegate-<type>.
    return f"The provider type {preset.type!r} is not installed (install its plugin, sluicegate-{preset.type})."


def preset_view(preset: Preset, installed_types: Collection[str]) -> dict[str, Any]:
    why = unavailable_reason(preset, installed_types)
    return {
        "id": preset.id,
        "label": preset.label,
        "type": preset.type,
        "base_url": preset.base_url,
        "base_url_optional": preset.base_url_optional,
        "base_url_hint": preset.base_url_hint,
        "models": list(preset.models),
        "key_env": preset.key_env,
        "key_optional": preset.key_optional,
        "available": why is None,
        "note": why if why is not None else preset.note,
        "fields": [field.view() for field in preset.fields],
    }


def env_name_for(provider_id: str) -> str:
    """The key variable a custom provider gets: ``my-vendor.eu`` -> ``MY_VENDOR_EU_API_KEY``."""
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in provider_id.upper())
    return f"{cleaned}_API_KEY"
