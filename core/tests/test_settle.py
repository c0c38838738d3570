"""The file watch's settling: a file is read for a reload only once it stopped changing and is
complete TOML, within a bound; exact with a scripted file, an injected clock and sleep."""

from __future__ import annotations

import hashlib
import os

from sluicegate.settle import Settler, Snapshot, signature, take_snapshot

FULL = b'[providers.mock]\ntype = "mock"\n[models.chat]\ntargets = ["mock/m"]\n'
HALF = FULL[: FULL.index(b"[models")]


def snap(content: bytes, mtime: int = 1, complete: bool = True) -> Snapshot:
    return Snapshot(len(content), mtime, hashlib.sha256(content).digest(), content, complete)


class ScriptedFile:
    """Answers each look with the next snapshot (the last one repeats); time passes only in sleep."""

    def __init__(self, *looks: Snapshot | None) -> None:
        self.looks = list(looks)
        self.now = 0.0
        self.reads: list[float] = []

    async def read(self) -> Snapshot | None:
        self.reads.append(self.now)
        return self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    def settler(self, settle: float = 0.25, limit: float = 5.0) -> Settler:
        return Settler(self.read, self.sleep, lambda: self.now, settle, limit)


async def test_a_file_that_stays_the_same_for_the_settle_window_is_read():
    file = ScriptedFile(snap(FULL))
    assert (await file.settler().wait()).content == FULL
    assert file.reads == [0.0, 0.25]


async def test_a_truncate_then_a_write_in_two_steps_yields_only_the_last_step():
    file = ScriptedFile(snap(b"", 1, complete=False), snap(HALF, 2), snap(FULL, 3), snap(FULL, 3))
    settled = await file.settler().wait()
    assert settled.content == FULL
    assert file.reads == [0.0, 0.25, 0.5, 0.75]


async def test_the_same_bytes_with_a_new_mtime_are_a_change():
    file = ScriptedFile(snap(FULL, 1), snap(FULL, 2), snap(FULL, 2))
    assert (await file.settler().wait()).mtime_ns == 2
    assert len(file.reads) == 3


async def test_a_stable_but_incomplete_file_is_waited_for_then_handed_over_at_the_limit():
    blank = snap(b"", complete=False)
    file = ScriptedFile(blank)
    # Returned at the limit, so the reload refuses it and says why instead of a silent watch.
    assert await file.settler(settle=0.25, limit=1.0).wait() == blank
    assert file.reads == [0.0, 0.25, 0.5, 0.75, 1.0]


async def test_a_file_that_never_settles_is_given_up_at_the_limit():
    file = ScriptedFile(*(snap(FULL, mtime) for mtime in range(1, 100)))
    assert await file.settler(settle=0.25, limit=1.0).wait() is None
    assert file.reads == [0.0, 0.25, 0.5, 0.75, 1.0]


async def test_a_file_missing_mid_replace_is_not_settled():
    file = ScriptedFile(None, None, snap(FULL), snap(FULL))
    assert (await file.settler().wait()).content == FULL
    assert len(file.reads) == 4


def test_a_snapshot_says_whether_the_content_is_complete(tmp_path):
    path = tmp_path / "gateway.toml"
    cases = {
        FULL: True,
        HALF: True,  # valid TOML: only stability tells it from a finished file
        b"": False,
        b"  \n\n": False,
        b"[models.chat\n": False,  # cut mid-table
        '[server]\nhost = "caf\u00e9"\n'.encode()[:-3]: False,  # cut mid-character
    }
    for content, complete in cases.items():
        path.write_bytes(content)
        seen = take_snapshot(path)
        assert (seen.content, seen.size, seen.complete) == (content, len(content), complete)
        assert seen.digest == hashlib.sha256(content).digest()
    assert take_snapshot(tmp_path / "absent.toml") is None


def test_a_signature_moves_with_a_rewrite_and_a_rename_over_the_file(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_bytes(FULL)
    first = signature(path)
    assert first is not None and signature(path) == first  # nothing changed, nothing moved
    path.write_bytes(HALF)
    rewritten = signature(path)
    assert rewritten != first
    fresh = tmp_path / "gateway.new"
    fresh.write_bytes(HALF)
    os.utime(fresh, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
    fresh.replace(path)  # same size and modification time: only the inode tells
    assert signature(path) != rewritten
    path.unlink()
    assert signature(path) is None
