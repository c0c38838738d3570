"""The governance commands of ``sluicegate`` (``keys``, ``teams``, ``usage``, ``db``) against a
temporary config whose ``[store]`` is a real SQLite file, run through the real command line
(``sluicegate.cli.main``, which finds them through the installed plugin's entry point), and a
running gateway on the same store picking up what they change through its store poll."""

from __future__ import annotations

import asyncio
import json
import re
import time

import aiohttp
import pytest

from sluicegate.cli import main
from sluicegate.testing.gateway import running_gateway
from sluicegate_governance.issued import digest, shown_prefix
from sluicegate_governance.sql import migrate

CONFIG = """
[providers.mock]
type = "mock"
models = ["echo-1"]

[models.echo]
targets = ["mock/echo-1"]

[pricing.prices."mock/*"]
input = 1000
output = 1000

[store]
url = "sqlite+aiosqlite:///{path}"
refresh_interval = 0.05
"""

SECRET = re.compile(r"sk-sg-[A-Za-z0-9_-]{43}")


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(path=tmp_path / "store.db"))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def table(out: str) -> list[list[str]]:
    """The rows of a printed table (header first), cells split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def test_keys_and_teams_are_created_listed_revoked_and_rotated(capsys, config):
    code, out, _ = run(capsys, "teams", "create", "--config", config, "--name", "ops", "--budget", "5",
                       "--period", "week", "--rpm", "100")
    assert code == 0
    team_id = re.search(r"created team (team_[0-9a-f]{16}) \(ops\)", out).group(1)
    assert run(capsys, "teams", "create", "--config", config, "--name", "ops")[0] == 1  # the name is taken

    code, out, err = run(capsys, "keys", "create", "--config", config, "--name", "ci-bot", "--team", "ops",
                         "--models", "echo, gpt-*", "--budget", "1.5", "--period", "day", "--expires", "30d")
    assert code == 0, err
    secrets = SECRET.findall(out)
    assert len(secrets) == 1 and "not shown again" in err  # printed once, with the warning
    secret = secrets[0]
    key_id = re.search(r"created key (key_[0-9a-f]{16}) \(ci-bot\)", out).group(1)

    code, out, _ = run(capsys, "keys", "list", "--config", config)
    rows = table(out)
    assert rows[0] == ["ID", "NAME", "PREFIX", "TEAM", "STATUS", "BUDGET", "SPENT", "EXPIRES"]
    assert rows[1][:7] == [key_id, "ci-bot", shown_prefix(secret), "ops", "active", "1.5/day", "0.000000"]
    expires = time.strptime(rows[1][7][:19], "%Y-%m-%dT%H:%M:%S")
    assert abs(time.mktime(expires) - time.mktime(time.gmtime()) - 30 * 86400) < 3600
    assert secret not in out and secret[12:] not in out and digest(secret) not in out

    code, out, _ = run(capsys, "keys", "list", "--config", config, "--json")
    listed = json.loads(out)
    assert [(k["id"], k["team_id"], k["models"], k["spend"]["limit"]) for k in listed] == [
        (key_id, team_id, ["echo", "gpt-*"], 1.5)]
    assert "key" not in listed[0] and secret not in out

    code, out, _ = run(capsys, "teams", "list", "--config", config)
    assert table(out)[1] == [team_id, "ops", "1", "5/week", "0.000000", "rpm=100"]

    code, out, err = run(capsys, "keys", "rotate", "--config", config, key_id)
    assert code == 0, err
    rotated = SECRET.findall(out)
    assert len(rotated) == 1 and rotated[0] != secret and f"rotated key {key_id}" in out

    code, out, _ = run(capsys, "keys", "revoke", "--config", config, key_id)
    assert code == 0 and f"revoked key {key_id}" in out
    assert "was revoked already" in run(capsys, "keys", "revoke", "--config", config, key_id)[1]
    assert table(run(capsys, "keys", "list", "--config", config)[1])[1][4] == "revoked"
    code, _, err = run(capsys, "keys", "rotate", "--config", config, key_id)
    assert code == 1 and "revoked" in err

    code, out, _ = run(capsys, "keys", "create", "--config", config, "--name", "json-bot", "--json")
    made = json.loads(out)
    assert SECRET.fullmatch(made["key"]) and made["prefix"] == shown_prefix(made["key"]) and made["team_id"] is None


def test_bad_input_exits_1_with_one_line_and_no_secret(capsys, tmp_path, config):
    cases = [
        (["keys", "revoke", "--config", config, "key_nope"], "no key 'key_nope'"),
        (["keys", "create", "--config", config, "--name", "x", "--expires", "someday"], "--expires"),
        (["keys", "create", "--config", config, "--name", "x", "--team", "nope"], "no team"),
        (["keys", "create", "--config", config, "--name", "x", "--rpm", "0"], "limits.rpm"),
        (["keys", "create", "--config", config, "--name", "x", "--budget", "-1"], "budget.amount"),
        (["usage", "--config", config, "--since", "1d", "--until", "3d"], "--since must be before --until"),
        (["db", "upgrade", "--config", config, "--revision", "nope"], "nope"),
        (["keys", "list", "--config", str(tmp_path / "missing.toml")], "does not exist"),
    ]
    for argv, said in cases:
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert said in err and "Traceback" not in err, (argv, err)
    assert run(capsys, "keys", "list", "--config", config)[1].startswith("no keys")

    no_store = tmp_path / "no-store.toml"
    no_store.write_text(CONFIG.split("[store]")[0])
    code, _, err = run(capsys, "keys", "list", "--config", str(no_store))
    assert code == 1 and "no [store] table" in err

    # The URL holds a password: an unreachable database is reported without it.
    unreachable = tmp_path / "pg.toml"
    unreachable.write_text(CONFIG.split("[store]")[0] + '[store]\nurl = "postgresql://sg:pw-s3cret@127.0.0.1:1/sg"\n')
    for argv in (["keys", "list"], ["db", "upgrade"], ["db", "current"]):
        code, out, err = run(capsys, *argv, "--config", str(unreachable))
        assert code == 1 and "unreachable" in err, (argv, err)
        assert "pw-s3cret" not in out + err

    code, out, err = run(capsys, "keys")  # a group without its command: its help, exit 2
    assert code == 2 and "create" in err and "rotate" in err


def test_db_upgrade_and_downgrade_move_between_revisions(capsys, config):
    head = migrate.head()
    assert run(capsys, "db", "current", "--config", config)[1].strip() == "base (never migrated)"
    code, out, _ = run(capsys, "db", "upgrade", "--config", config)
    assert code == 0 and out.strip() == f"the store is at revision {head}"
    assert run(capsys, "db", "current", "--config", config)[1].strip() == head

    code, out, _ = run(capsys, "db", "downgrade", "--config", config, "base")
    assert code == 0 and "base" in out
    assert run(capsys, "db", "current", "--config", config)[1].strip() == "base (never migrated)"
    first = "0001"
    code, out, _ = run(capsys, "db", "upgrade", "--config", config, "--revision", first)
    assert code == 0 and out.strip() == f"the store is at revision {first}"
    code, out, _ = run(capsys, "db", "upgrade", "--config", config)
    assert code == 0 and out.strip() == f"the store is at revision {head}"


async def cli(capsys, *argv: str) -> tuple[int, str, str]:
    # The command runs its own event loop, as it does in a shell; the gateway keeps this one.
    code = await asyncio.to_thread(main, list(argv))
    printed = capsys.readouterr()
    return code, printed.out, printed.err


async def until_status(http: aiohttp.ClientSession, url: str, secret: str, status: int) -> int:
    """Call until the answer has ``status``; how many calls were served (200) on the way."""
    body = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}
    deadline = time.monotonic() + 10
    served = 0
    while True:
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}) as response:
            served += response.status == 200
            if response.status == status:
                return served
        assert time.monotonic() < deadline, f"still not {status}"
        await asyncio.sleep(0.05)


async def test_a_running_gateway_follows_the_cli_and_usage_shows_its_calls(capsys, config, tmp_path):
    async with running_gateway(CONFIG.format(path=tmp_path / "store.db")) as server, aiohttp.ClientSession() as http:
        chat = server.base_url + "/v1/chat/completions"
        code, out, _ = await cli(capsys, "keys", "create", "--config", config, "--name", "ci")
        assert code == 0
        secret = SECRET.findall(out)[0]
        key_id = re.search(r"key_[0-9a-f]{16}", out).group(0)
        served = await until_status(http, chat, secret, 200)  # the store poll brought the new key
        for _ in range(2):
            served += await until_status(http, chat, secret, 200)

        code, out, _ = await cli(capsys, "keys", "rotate", "--config", config, key_id)
        new = SECRET.findall(out)[0]
        served += await until_status(http, chat, secret, 401)
        served += await until_status(http, chat, new, 200)

        code, _, _ = await cli(capsys, "keys", "revoke", "--config", config, key_id)
        assert code == 0
        served += await until_status(http, chat, new, 401)

        # Usage reads the ledger (written in batches, within a second or so).
        deadline = time.monotonic() + 10
        while True:
            code, out, _ = await cli(capsys, "usage", "--config", config, "--by", "key", "--json")
            data = json.loads(out)
            if sum(point["requests"] - point["errors"] for point in data["data"]) >= served:
                break
            assert time.monotonic() < deadline, data
            await asyncio.sleep(0.1)
        successes = sum(point["requests"] - point["errors"] for point in data["data"] if point["group"] == key_id)
        assert successes == served
        code, out, _ = await cli(capsys, "usage", "--config", config, "--by", "key", "--granularity", "hour",
                                 "--since", "2h")
        rows = table(out)
        assert rows[0][0].startswith("usage from") and rows[1][:3] == ["START", "KEY", "REQUESTS"]
        mine = next(row for row in rows[2:] if row[1] == f"{key_id} (ci)")
        assert int(mine[2]) >= served and rows[-1][0] == "TOTAL"
        for text in (out, json.dumps(data)):
            assert secret not in text and new not in text
