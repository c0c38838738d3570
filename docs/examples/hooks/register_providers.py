"""A provider type for an OpenAI-compatible vendor: the OpenAI adapter with the vendor's URL as
its default, so a config needs only ``[providers.ds] type = "deepseek"`` and a key."""

from attrs import define, field

from sluicegate import hookimpl
from sluicegate.config.checks import http_url
from sluicegate_openai import OpenAIOptions, OpenAIProvider


@define(kw_only=True)
class DeepSeekOptions(OpenAIOptions):
    base_url: str | None = field(default="https://api.deepseek.com/v1", validator=http_url)


@hookimpl
def register_providers(register):
    # factory(name=, options=, services=) -> Provider: the adapter class itself fits.
    register("deepseek", OpenAIProvider, options=DeepSeekOptions)
