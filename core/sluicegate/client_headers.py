"""Which of a client's own headers a vendor may receive.

Coding agents and their SDKs name the program, its version, the machine and the session in
headers (Claude Code: ``x-claude-code-session-id``, ``x-app``, ``anthropic-*``; Codex:
``x-codex-*``, ``originator``, ``session-id``; every Stainless-made SDK: ``x-stainless-*``).
They are meant for the vendor whose API the client speaks. So:

- a vendor the request was translated for (a bridge, or an adapter speaking another dialect)
  receives none of them (``TRANSLATED``);
- a vendor of the client's own dialect receives them, except another API's clients' family
  (``TO_OPENAI`` for an OpenAI-dialect vendor, ``TO_ANTHROPIC`` for Anthropic, ``TO_GEMINI``
  for Gemini, which keeps Google's own ``x-goog-*`` headers back too).

Each rule is a frozen set and a prefix tuple built at import: a check is one set lookup and
one ``str.startswith``, never a pattern match.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import evolve, frozen
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import RequestContext


@frozen
class HeaderRule:
    """Header names and name prefixes (lower case) that a rule keeps from a vendor."""

    names: frozenset[str]
    prefixes: tuple[str, ...]

    def drops(self, lowered: str) -> bool:
        return lowered in self.names or lowered.startswith(self.prefixes)

    def __or__(self, other: HeaderRule) -> HeaderRule:
        return HeaderRule(self.names | other.names, self.prefixes + other.prefixes)


#: Anthropic's SDKs and Claude Code: API steering (``anthropic-version``, ``anthropic-beta``,
#: ``anthropic-dangerous-direct-browser-access``), the app and its session.
ANTHROPIC_CLIENTS = HeaderRule(frozenset({"x-app"}), ("anthropic-", "x-claude-code-"))
#: OpenAI's SDKs and Codex: API steering (``openai-beta``), the program (``originator``), the
#: session, thread and turn ids, the ChatGPT account.
OPENAI_CLIENTS = HeaderRule(
    frozenset(
        {
            "originator",
            "session-id",
            "session_id",
            "thread-id",
            "thread_id",
            "conversation-id",
            "conversation_id",
            "x-client-request-id",
            "chatgpt-account-id",
        }
    ),
    ("openai-", "x-openai-", "x-codex-"),
)
#: Google's SDKs and Gemini CLI: the SDK and its version (``x-goog-api-client``), and every other
#: ``x-goog-*`` header, which steers Google's API (another project, another key).
GOOGLE_CLIENTS = HeaderRule(frozenset(), ("x-goog-",))
#: Any client: the program and its version (``User-Agent``; the HTTP client sends its own
#: instead), and the runtime, OS and retry count of every Stainless-made SDK.
ANY_CLIENT = HeaderRule(frozenset({"user-agent"}), ("x-stainless-",))

#: Kept from an OpenAI-dialect vendor serving a client of that dialect.
TO_OPENAI = ANTHROPIC_CLIENTS | GOOGLE_CLIENTS
#: Kept from Anthropic serving an Anthropic client.
TO_ANTHROPIC = OPENAI_CLIENTS | GOOGLE_CLIENTS
#: Kept from Gemini serving a Gemini client: the other families, and the client's own
#: ``x-goog-*`` too, since the gateway's key decides which project and quota Google uses.
TO_GEMINI = ANTHROPIC_CLIENTS | OPENAI_CLIENTS | GOOGLE_CLIENTS
#: Kept from a vendor the request was translated for: every client's own headers.
TRANSLATED = ANTHROPIC_CLIENTS | OPENAI_CLIENTS | GOOGLE_CLIENTS | ANY_CLIENT


def without(headers: Iterable[tuple[str, str]], rule: HeaderRule) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs ``rule`` does not drop, in order."""
    return [(name, value) for name, value in headers if not rule.drops(name.lower())]


def translated_context(ctx: RequestContext) -> RequestContext:
    """``ctx`` as a bridge hands it to the provider it translates for: the same request, minus
    the client's private headers.

    A bridge calls the provider's own ``send`` with a request in the vendor's dialect, and that
    ``send`` forwards headers as for a client of that dialect; this context is what keeps the
    client's own headers from the vendor. Everything else (response headers, facts, state) is shared.
    """
    kept = CIMultiDictProxy(CIMultiDict(without(ctx.client_headers.items(), TRANSLATED)))
    return evolve(ctx, client_headers=kept)
