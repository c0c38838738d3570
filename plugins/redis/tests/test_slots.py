"""SlotBook on an injected clock: what the keeper renews, for how long, and which releases it owes."""

from __future__ import annotations

from sluicegate_redis.slots import PER_CALL, SlotBook


def test_renewals_are_a_lease_each_until_the_ttl_is_spent(clock):
    book = SlotBook(clock, lease=10)
    book.take("k", "a", ttl=600)
    book.take("k", "b", ttl=14)
    book.take("k", None, ttl=600)  # taken locally: nothing to renew in Redis
    book.take("other", "c", ttl=3)
    assert book.renewals() == {"k": ["a", "10000", "b", "10000"], "other": ["c", "3000"]}
    clock.advance(6)
    assert book.renewals() == {"k": ["a", "10000", "b", "8000"]}
    clock.advance(8)
    assert book.renewals() == {"k": ["a", "10000"]}
    assert book.busy
    assert book.give_back("k").slot == "a"  # first taken, first given back
    assert book.busy is False  # what is left is spent or local: the keeper may stop
    assert book.give_back("k").slot == "b"
    assert book.give_back("k").slot is None
    assert book.give_back("k") is None


def test_owed_releases_are_kept_for_two_leases_then_dropped(clock):
    book = SlotBook(clock, lease=10)
    book.owe("k", "a")
    clock.advance(5)
    book.owe("k", "b")
    assert book.owed("k") == ["a", "b"] and book.owes and book.busy
    clock.advance(15)
    assert book.owed("k") == ["a", "b"]
    clock.advance(0.5)
    assert book.owed("k") == ["b"]
    book.paid("k", ["b"])
    assert book.owed("k") == [] and not book.owes and not book.busy


def test_owed_releases_are_bounded(clock):
    book = SlotBook(clock, lease=10, max_owed=3)
    for slot in "abcd":
        book.owe("k", slot)
    book.owe("k", "d")  # owed twice is owed once
    book.owe("j", "e")
    assert book.owed("k") == ["c", "d"] and book.owed("j") == ["e"]
    many = SlotBook(clock, lease=10)
    for n in range(PER_CALL + 5):
        many.owe("k", str(n))
    assert len(many.owed("k")) == PER_CALL  # one script call's worth at a time
