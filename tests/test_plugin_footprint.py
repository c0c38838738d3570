"""Every gateway imports every installed plugin to find its hooks; a plugin's heavy client
libraries must come in only when a config uses what needs them (docs/plugins.md, "Imports").

Checked in a fresh interpreter: plugin discovery and component registration, as a gateway
without [store] or Vertex providers does them, leave these libraries unimported.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Libraries a gateway that does not use them must not load (~47 MB for the store's, ~14 MB for
#: google-auth's, ~10 MB for redis-py's, ~8 MB for botocore's, ~1.5 MB for the OpenTelemetry
#: SDK's), and the plugin whose component needs each.
DEFERRED = {
    "sqlalchemy": "governance ([store])",
    "alembic": "governance ([store])",
    "asyncpg": "governance ([store], PostgreSQL)",
    "aiosqlite": "governance ([store], SQLite)",
    "google.auth": "vertex (type = \"vertex\")",
    "botocore": "bedrock (type = \"bedrock\")",
    "redis": "redis (a Redis cache, rate limiter, breaker policy or response store), governance (redis_url)",
    "opentelemetry": "otel ([tracing])",
}

PROBE = """
import json, sys
from sluicegate.plugins import load_plugins
host = load_plugins()  # imports every plugin and runs every register_* hook
print(json.dumps({"plugins": [p.name for p in host.plugins], "modules": sorted(sys.modules)}))
"""


def test_discovering_the_plugins_loads_no_client_library_a_config_did_not_ask_for():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"governance", "vertex", "redis", "bedrock", "otel"} <= set(found["plugins"])  # they were discovered, hooks and all
    loaded = set(found["modules"])
    assert {name: why for name, why in DEFERRED.items() if name in loaded} == {}
