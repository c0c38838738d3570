"""The docs are part of the product, so they are tested like it (datasette-style meta-tests).

- The generated references (docs/reference/) equal a fresh ``python docs/gen_reference.py``.
- Every hook spec is documented with its signature and an example, and named by some test.
- Every key of every options class (core tables, provider types, plugin components) is in the
  config reference, in the section of its class.
- The example plugins of the hook reference work in a real gateway.
- Tests and repository paths the docs name exist; the README is short and its links resolve.

The checks find hooks, options classes and plugins on their own (from the hookspecs module, the
config schema and the installed plugins), not through the generator they check.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
import subprocess
import typing
from pathlib import Path
from types import ModuleType

import aiohttp
import attrs
import pytest

from sluicegate import hookspecs
from sluicegate.config.schema import GatewayConfig
from sluicegate.plugins import load_plugins
from sluicegate.provider import ProviderOptions

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples" / "hooks"
README_MAX_LINES = 200
# Where tests live (pyproject's testpaths), for "is this hook exercised / does this test exist".
TEST_TREES = [ROOT / "tests", ROOT / "core" / "tests", ROOT / "contrib" / "plugin-template" / "tests",
              *sorted((ROOT / "plugins").glob("*/tests"))]
THIS = Path(__file__).resolve()


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files_with_tests() -> list[Path]:
    return [path for tree in TEST_TREES for path in tree.rglob("*.py") if path.resolve() != THIS]


def hook_specs() -> dict[str, typing.Callable[..., typing.Any]]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, marker)}


# -- generated pages ------------------------------------------------------------------------------


def test_the_generated_references_are_up_to_date():
    stale = [path.relative_to(ROOT) for path, text in load_generator().generate().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"out of date: {stale}; run `python docs/gen_reference.py` and commit the result"


# -- hooks ----------------------------------------------------------------------------------------


def test_every_hook_is_documented_with_its_signature_and_an_example():
    reference = (DOCS / "reference" / "hooks.md").read_text()
    problems = []
    for name, function in hook_specs().items():
        signature = f"`{name}{inspect.signature(function)}`"
        if f"\n## {name}\n" not in reference:
            problems.append(f"{name}: no section in docs/reference/hooks.md")
        if signature not in reference:
            problems.append(f"{name}: signature {signature} not in docs/reference/hooks.md")
        if not (EXAMPLES / f"{name}.py").exists():
            problems.append(f"{name}: no example plugin docs/examples/hooks/{name}.py")
    assert not problems, "\n".join(problems)


def test_every_hook_is_exercised_by_a_test():
    # Weak but real (datasette does the same): some test names the hook.
    sources = "\n".join(path.read_text(errors="replace") for path in files_with_tests())
    unused = [name for name in hook_specs() if not re.search(rf"\b{name}\b", sources)]
    assert not unused, f"hooks no test names: {unused}"


def test_every_example_is_a_plugin_of_its_hook_and_nothing_else():
    names = set(hook_specs())
    for path in EXAMPLES.glob("*.py"):
        assert path.stem in names, f"{path.name} is named after no hook"
        module = load_example(path.stem)
        implemented = {name for name in names if hasattr(getattr(module, name, None), f"{hookspecs.PROJECT}_impl")}
        assert implemented == {path.stem}, f"{path.name} implements {sorted(implemented)}"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hook_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES_CONFIG = """
[providers.mock]
type = "mock"

[providers.flaky]
type = "mock"
fail_rate = 1.0

[providers.ds]
type = "deepseek"
api_key = "sk-docs-example-not-a-real-key"

[models.echo]
targets = ["mock/echo-1"]

[models.broken]
targets = ["flaky/echo-1"]

[retry]
attempts = 1

[max_messages]
limit = 2

[cache]
backend = "dict"

[ratelimit]
backend = "unlimited"
requests_per_minute = 1

[breaker]
policy = "never"
failure_threshold = 1

[responses]
store = "audit"

[status_counts]

[proxy_auth]
proxy_secret = "docs-example-proxy-secret"
teams = ["search"]
"""
PROXY = {"x-proxy-secret": "docs-example-proxy-secret", "x-team": "search"}


async def test_the_hook_examples_work_in_a_real_gateway(gateway, caplog):
    caplog.set_level("INFO", logger="audit_store")
    examples = [(f"example_{path.stem}", load_example(path.stem)) for path in sorted(EXAMPLES.glob("*.py"))]
    server = await gateway(EXAMPLES_CONFIG, extra_plugins=examples)
    chat = server.base_url + "/v1/chat/completions"
    one = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession(headers=PROXY) as http:
        # register_authenticators: the sign-in proxy's requests get in, anyone else's do not.
        async with http.post(chat, json=one, headers={"x-proxy-secret": "", "x-team": ""}) as response:
            assert response.status == 401
        # register_rate_limiters: 1 request a minute, yet the "unlimited" limiter lets both through;
        # register_cache_backends: the second answer comes from the "dict" backend.
        results = []
        for _ in range(2):
            async with http.post(chat, json=one) as response:
                results.append((response.status, response.headers.get("x-sluicegate-cache")))
        assert results == [(200, "miss"), (200, "hit")]

        # register_middlewares + gateway_error_body: refused before any vendor call, and the body
        # carries the request id.
        three = {"model": "echo", "messages": [{"role": "user", "content": str(i)} for i in range(3)]}
        async with http.post(chat, json=three) as response:
            body = await response.json()
            assert response.status == 400 and body["error"]["code"] == "too_many_messages", body
            assert body["request_id"] == response.headers["x-request-id"]

        # register_breaker_policies: with "never", failures never open a circuit.
        statuses = []
        for _ in range(3):
            async with http.post(chat, json={**one, "model": "broken"}) as response:
                statuses.append((response.status, (await response.json())["error"]["code"]))
        assert all(code != "circuit_open" for _, code in statuses), statuses

        # register_response_stores: the "audit" store keeps the response and logs its id.
        async with http.post(server.base_url + "/v1/responses", json={"model": "echo", "input": "hi"}) as response:
            stored = await response.json()
        async with http.get(server.base_url + f"/v1/responses/{stored['id']}") as response:
            assert response.status == 200 and (await response.json())["id"] == stored["id"]
        assert any(stored["id"] in record.getMessage() for record in caplog.records if record.name == "audit_store")

        # gateway_app_created: a route of its own, reading the serving config.
        async with http.get(server.base_url + "/models/count") as response:
            assert await response.json() == {"aliases": 2}

        # register_providers: the "deepseek" type, with its own default base_url.
        async with http.get(server.base_url + "/health") as response:
            health = await response.json()
        assert health["providers"]["ds"]["base_url"] == "https://api.deepseek.com/v1", health["providers"]["ds"]

    # register_extensions: it heard every finished request.
    counts = server.gateway.current.extensions["status_counts"].counts
    assert counts[200] >= 4 and counts[400] == 1 and counts[401] == 1, counts


# -- config ---------------------------------------------------------------------------------------


def options_classes() -> dict[type, str]:
    """Every attrs options class a gateway.toml can reach, with where it comes from."""
    found: dict[type, str] = {ProviderOptions: "[providers.<id>]"}

    def walk(cls: type, where: str) -> None:
        if cls in found and where != "[providers.<id>]":
            return
        found[cls] = where
        for name, hint in typing.get_type_hints(cls).items():
            for inner in (hint, *typing.get_args(hint)):
                if isinstance(inner, type) and attrs.has(inner):
                    walk(inner, f"{where}.{name}")

    hints = typing.get_type_hints(GatewayConfig)
    for field in attrs.fields(GatewayConfig):
        for inner in (hints[field.name], *typing.get_args(hints[field.name])):
            if isinstance(inner, type) and attrs.has(inner):
                walk(inner, f"[{field.name}]")
    host = load_plugins()
    for name, spec in hook_specs().items():
        if "register" not in inspect.signature(spec).parameters:
            continue  # not a component registration (register_commands adds CLI commands)
        for impl in getattr(host.pm.hook, name).get_hookimpls():
            seen: list[type] = []

            def register(component, factory, *, options=None, _seen=seen, **extra):
                if options is not None:
                    _seen.append(options)

            impl.function(**({"register": register} if "register" in impl.argnames else {}))
            for cls in seen:
                walk(cls, f"{name} {impl.plugin_name}")
    return found


def config_sections() -> dict[str, str]:
    """Options class path -> the text of its section in the config reference."""
    text = (DOCS / "reference" / "config.md").read_text()
    sections = {}
    for part in re.split(r"\n(?=#{2,6} )", text):
        found = re.search(r"^Options class: `([\w.]+)`", part, re.MULTILINE)
        if found:
            sections[found.group(1)] = part
    return sections


def test_every_config_key_is_in_the_config_reference():
    sections = config_sections()
    problems = []
    for cls, where in options_classes().items():
        # A provider type or a breaker policy lists the keys it adds; the rest are its base's.
        own = [sections.get(f"{c.__module__}.{c.__qualname__}", "") for c in cls.__mro__ if attrs.has(c)]
        if not own[0]:
            problems.append(f"{where}: {cls.__module__}.{cls.__qualname__} has no section")
            continue
        for field in attrs.fields(cls):
            if not any(f"| `{field.name}` |" in section for section in own):
                problems.append(f"{where}: key {field.name!r} of {cls.__qualname__} is not in its section")
    assert not problems, "\n".join(problems)


# -- what the docs name ---------------------------------------------------------------------------


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md")), ROOT / "contrib" / "bench" / "README.md"]


def test_every_test_the_docs_name_exists():
    defined = set()
    for path in files_with_tests():
        defined.update(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(errors="replace"), re.MULTILINE))
    defined.update(re.findall(r"^\s*(?:async )?def (test_\w+)", (ROOT / "core" / "sluicegate" / "testing" /
                                                                  "contract.py").read_text(), re.MULTILINE))
    missing = []
    for page in doc_pages():
        for name in set(re.findall(r"`(test_\w+)`", page.read_text())):
            if name not in defined:
                missing.append(f"{page.relative_to(ROOT)}: {name}")
    assert not missing, "tests named in the docs that do not exist:\n" + "\n".join(sorted(missing))


REPO_PATH = re.compile(r"`((?:core|plugins|contrib|tests|scripts|docs)/[\w./-]+)`")


def test_every_repository_path_the_docs_name_exists():
    missing = []
    for page in doc_pages():
        for path in set(REPO_PATH.findall(page.read_text())):
            if not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, "paths named in the docs that do not exist:\n" + "\n".join(sorted(missing))


def test_the_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES, "the README is the front page: details go in docs/"
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert any(link.startswith("docs/") for link in links), "the README links into docs/"
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in markdown_anchors(target):
            broken.append(link)
    assert not broken, f"README links that resolve to nothing: {broken}"


def markdown_anchors(path: Path) -> set[str]:
    """The ids MkDocs (and GitHub, for these headings) gives a page's headings."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", path.read_text(), re.MULTILINE):
        slug = re.sub(r"[^\w\s-]", "", heading.replace("`", "").lower()).strip()
        anchors.add(re.sub(r"[\s]+", "-", slug))
    return anchors


# -- the newcomer's scripts -------------------------------------------------------------------------

FAKE_PYTHON = """#!/bin/sh
# A stand-in python3 answering what scripts/venv.sh asks of it: {version}, externally managed: {managed}.
case "$*" in
  *EXTERNALLY-MANAGED*) exit {managed_rc} ;;
  *"version_info < (3, 11)"*) exit {old_rc} ;;
  *print*) echo {version} ;;
  "-m venv .venv") mkdir -p .venv/bin && printf '#!/bin/sh\\n' > .venv/bin/python && chmod +x .venv/bin/python ;;
  *) exit 2 ;;
esac
"""


def run_venv_sh(function: str, cwd: Path, path_dir: Path, **env: str):
    """Run a function of scripts/venv.sh with only ``path_dir`` (the fake pythons) and the few
    tools it uses on PATH, so no real python3.X of this machine is found."""
    tools = cwd / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("mkdir", "chmod", "rm", "id"):
        if not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    script = f". {ROOT / 'scripts' / 'venv.sh'} && {function}"
    return subprocess.run(["/bin/bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{path_dir}:{tools}", "HOME": str(cwd), **env})


def fake_python(bin_dir: Path, version: str, *, managed: bool) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    old = tuple(map(int, version.split("."))) < (3, 11)
    script = bin_dir / "python3"
    script.write_text(FAKE_PYTHON.format(version=version, managed=managed, managed_rc=0 if managed else 1,
                                         old_rc=1 if old else 0))
    script.chmod(0o755)


def test_an_old_python_is_refused_with_the_version_needed(tmp_path):
    fake_python(tmp_path / "bin", "3.10", managed=False)
    done = run_venv_sh("find_python", tmp_path, tmp_path / "bin")
    assert done.returncode == 1
    assert "needs Python >= 3.11" in done.stderr and "python3=3.10" in done.stderr, done.stderr


@pytest.mark.parametrize(("managed", "expected"), [(False, "python3"), (True, ".venv/bin/python")])
def test_tests_install_into_python3_unless_pip_may_not(tmp_path, managed, expected):
    # CI's python3 takes the installs as it is; a Debian/Ubuntu system python3 (PEP 668) gets a .venv.
    fake_python(tmp_path / "bin", "3.12", managed=managed)
    done = run_venv_sh("pick_python", tmp_path, tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert (tmp_path / ".venv").exists() == managed


def test_an_existing_venv_or_an_explicit_python_wins(tmp_path):
    fake_python(tmp_path / "bin", "3.12", managed=False)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("#!/bin/sh\n")
    (tmp_path / ".venv" / "bin" / "python").chmod(0o755)
    assert run_venv_sh("pick_python", tmp_path, tmp_path / "bin").stdout.strip() == ".venv/bin/python"
    chosen = run_venv_sh("pick_python", tmp_path, tmp_path / "bin", PYTHON="/opt/python3.13")
    assert chosen.stdout.strip() == "/opt/python3.13"
