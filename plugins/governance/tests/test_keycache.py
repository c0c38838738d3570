"""The in-memory key index: a key is found by its digest once per snapshot, then by its text."""

from __future__ import annotations

from sluicegate_governance import keycache
from sluicegate_governance.issued import digest, new_secret, shown_prefix
from sluicegate_governance.keycache import KeyIndex
from sluicegate_governance.model import Snapshot, VirtualKey


def key_for(secret: str, key_id: str) -> VirtualKey:
    return VirtualKey(id=key_id, name=key_id, digest=digest(secret), prefix=shown_prefix(secret))


def test_a_key_is_found_and_then_remembered_by_its_text_but_a_wrong_one_is_not():
    secret = new_secret()
    index = KeyIndex.of(Snapshot(version=1, keys=[key_for(secret, "key_a")]))
    assert index.find(secret).key.id == "key_a"
    assert index.find(secret) is index.seen[secret]
    wrong = new_secret()
    assert index.find(wrong) is None
    assert wrong not in index.seen  # wrong keys cannot fill the memory


def test_a_new_snapshot_forgets_what_the_last_one_remembered():
    secret = new_secret()
    before = KeyIndex.of(Snapshot(version=1, keys=[key_for(secret, "key_a")]))
    assert before.find(secret) is not None
    after = KeyIndex.of(Snapshot(version=2, keys=[]))  # the key was deleted elsewhere
    assert after.find(secret) is None


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(keycache, "MAX_SEEN", 3)
    secrets = [new_secret() for _ in range(5)]
    index = KeyIndex.of(Snapshot(version=1, keys=[key_for(s, f"key_{n}") for n, s in enumerate(secrets)]))
    for secret in secrets:
        assert index.find(secret) is not None
        assert len(index.seen) <= 3
    assert [index.find(secret).key.id for secret in secrets] == [f"key_{n}" for n in range(5)]
