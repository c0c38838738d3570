"""The memory response store on an injected clock: TTL, LRU by count and bytes, tenants, chains.

Every bound is checked at its exact edge: the clock only moves when a test says so, and sizes
are the stored forms' own lengths (``StoredResponse.encode``).
"""

from __future__ import annotations

import logging

import pytest

from sluicegate.config.responses import ResponsesConfig
from sluicegate.features.memory_response_store import (
    SHELF_KEY,
    WARN_EVERY,
    MemoryResponseStore,
    Shelf,
    make_memory_store,
)
from sluicegate.features.response_store import (
    MAX_ID_CHARS,
    BrokenChain,
    ChainTooLong,
    NullResponseStore,
    StoredResponse,
    StoreUnavailable,
    decode_stored,
)
from sluicegate.retry_hints import with_retry_hints
from sluicegate.services import Services

A, B = "t-aaaaaaaaaaaa", "t-bbbbbbbbbbbb"  # two clients' tenant labels


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def item(response_id: str, previous: str | None = None, text: str = "hi") -> StoredResponse:
    return StoredResponse(
        {"id": response_id, "object": "response", "output": [{"type": "message", "content": [{"text": text}]}]},
        [{"id": f"in_{response_id}", "type": "message", "role": "user", "content": text}],
        previous,
    )


def store(clock: Clock | None = None, *, ttl: float = 60.0, max_entries: int = 100,
          max_bytes: int = 1_000_000, max_chain: int = 50, shelf: Shelf | None = None) -> MemoryResponseStore:
    return MemoryResponseStore(clock or Clock(), ttl=ttl, max_entries=max_entries, max_bytes=max_bytes,
                               max_chain=max_chain, shelf=shelf, log=logging.getLogger("sluicegate.test-responses"))


async def chain_of(memory: MemoryResponseStore, tenant: str | None, ids: list[str]) -> None:
    previous = None
    for response_id in ids:
        await memory.put(tenant, item(response_id, previous))
        previous = response_id


def ids(chain: list[StoredResponse] | None) -> list[str] | None:
    return None if chain is None else [entry.id for entry in chain]


# -- put / get ---------------------------------------------------------------------------


async def test_round_trip_gives_each_reader_its_own_copy():
    memory = store()
    stored = item("resp_1")
    await memory.put(A, stored)
    first = await memory.get(A, "resp_1")
    assert first == stored and first is not stored
    first.response["output"].clear()  # a caller changing what it read...
    stored.input_items.append({"id": "late"})  # ...or what it stored
    assert await memory.get(A, "resp_1") == item("resp_1")


async def test_putting_an_id_again_replaces_it_and_its_size():
    memory = store()
    await memory.put(A, item("resp_1", text="short"))
    await memory.put(A, item("resp_1", text="a much longer answer"))
    assert (await memory.get(A, "resp_1")).response["output"][0]["content"][0]["text"] == "a much longer answer"
    assert len(memory.shelf) == 1 and memory.shelf.size == len(item("resp_1", text="a much longer answer").encode())


@pytest.mark.parametrize("bad", [
    StoredResponse({"object": "response"}, []),            # no id
    StoredResponse({"id": ""}, []),
    StoredResponse({"id": 7}, []),
    StoredResponse({"id": "x" * (MAX_ID_CHARS + 1)}, []),
    StoredResponse({"id": "r"}, [], "r"),                   # follows itself
])
async def test_items_no_store_can_key_are_refused(bad):
    with pytest.raises(ValueError):
        await store().put(A, bad)
    with pytest.raises(ValueError):
        await NullResponseStore().put(A, bad)


async def test_ids_no_store_could_hold_are_unknown():
    memory = store()
    assert await memory.get(A, "x" * (MAX_ID_CHARS + 1)) is None
    assert await memory.history(A, "") is None
    assert await memory.delete(A, "x" * (MAX_ID_CHARS + 1)) is False


# -- TTL ---------------------------------------------------------------------------------


async def test_a_response_expires_exactly_ttl_after_it_was_stored():
    clock = Clock(100.0)
    memory = store(clock, ttl=30.0)
    await memory.put(A, item("resp_1"))
    clock.now = 129.999
    assert await memory.get(A, "resp_1") is not None
    assert await memory.history(A, "resp_1") is not None  # reading does not extend the TTL
    clock.now = 130.0
    assert await memory.get(A, "resp_1") is None
    assert len(memory.shelf) == 0 and memory.shelf.size == 0  # dropped when found expired


async def test_an_expired_response_cannot_be_deleted_and_one_stored_again_lives_again():
    clock = Clock(0.0)
    memory = store(clock, ttl=10.0)
    await memory.put(A, item("resp_1"))
    clock.now = 10.0
    assert await memory.delete(A, "resp_1") is False
    await memory.put(A, item("resp_1"))
    clock.now = 19.999
    assert await memory.get(A, "resp_1") is not None


async def test_expired_entries_at_the_least_recently_used_end_go_when_a_response_is_stored():
    clock = Clock(0.0)
    memory = store(clock, ttl=10.0)
    await memory.put(A, item("old_1"))
    await memory.put(A, item("old_2"))
    clock.now = 5.0
    await memory.put(A, item("mid"))
    clock.now = 10.0  # old_1 and old_2 expire now; mid lives until 15
    await memory.put(A, item("new"))
    assert [key[1] for key in memory.shelf.entries] == ["mid", "new"]
    assert memory.shelf.size == len(item("mid").encode()) + len(item("new").encode())


# -- bounds ------------------------------------------------------------------------------


async def test_the_entry_bound_evicts_the_least_recently_used():
    memory = store(max_entries=2)
    await memory.put(A, item("r1"))
    await memory.put(A, item("r2"))
    assert await memory.get(A, "r1") is not None  # r1 is now the most recently used
    await memory.put(A, item("r3"))
    assert await memory.get(A, "r2") is None
    assert await memory.get(A, "r1") is not None and await memory.get(A, "r3") is not None
    assert len(memory.shelf) == 2


async def test_the_byte_bound_counts_the_encoded_json_and_evicts_until_it_fits():
    sizes = {name: len(item(name).encode()) for name in ("r1", "r2", "r3")}
    # Room for exactly two: the third evicts the least recently used one.
    memory = store(max_bytes=sizes["r1"] + sizes["r2"])
    await memory.put(A, item("r1"))
    await memory.put(A, item("r2"))
    assert memory.shelf.size == sizes["r1"] + sizes["r2"]
    await memory.put(A, item("r3"))
    assert [key[1] for key in memory.shelf.entries] == ["r2", "r3"]
    assert memory.shelf.size == sizes["r2"] + sizes["r3"]
    big = item("big", text="x" * 200)
    memory = store(max_bytes=len(big.encode()))
    await memory.put(A, item("r1"))
    await memory.put(A, big)  # fits alone, exactly: everything else goes
    assert [key[1] for key in memory.shelf.entries] == ["big"] and memory.shelf.size == len(big.encode())


async def test_a_response_larger_than_the_byte_bound_is_not_stored_and_logged_once_a_minute(caplog):
    clock = Clock(0.0)
    memory = store(clock, max_bytes=100)
    await memory.put(A, item("keep"))  # dropped too when replaced by a version too big
    await memory.put(A, item("keep", text="y" * 200))
    await memory.put(A, item("huge", text="z" * 200))
    assert await memory.get(A, "keep") is None and await memory.get(A, "huge") is None
    assert memory.shelf.size == 0
    clock.now = WARN_EVERY
    await memory.put(A, item("huge", text="z" * 200))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and "larger than [responses] max_mb" in warned[0]


async def test_a_replay_marks_the_whole_chain_recently_used():
    memory = store(max_entries=3)
    await chain_of(memory, A, ["c1", "c2"])
    await memory.put(A, item("other"))
    assert ids(await memory.history(A, "c2")) == ["c1", "c2"]
    await memory.put(A, item("new"))  # evicts "other", not the conversation in use
    # Touched oldest first: the named response is the most recently used of its chain.
    assert [key[1] for key in memory.shelf.entries] == ["c1", "c2", "new"]
    assert await memory.get(A, "other") is None
    assert ids(await memory.history(A, "c2")) == ["c1", "c2"]


# -- tenants -----------------------------------------------------------------------------


async def test_one_tenant_cannot_read_replay_or_delete_anothers_responses():
    memory = store()
    await chain_of(memory, A, ["r1", "r2"])
    for tenant in (B, None):
        assert await memory.get(tenant, "r1") is None
        assert await memory.history(tenant, "r2") is None
        assert await memory.delete(tenant, "r2") is False
    assert ids(await memory.history(A, "r2")) == ["r1", "r2"]


async def test_the_same_id_under_two_tenants_is_two_responses():
    memory = store()
    await memory.put(A, item("same", text="from a"))
    await memory.put(None, item("same", text="open gateway"))
    await memory.put(B, item("later", "same"))  # B's chain cannot reach A's "same"
    assert (await memory.get(A, "same")).response["output"][0]["content"][0]["text"] == "from a"
    assert (await memory.get(None, "same")).response["output"][0]["content"][0]["text"] == "open gateway"
    with pytest.raises(BrokenChain):
        await memory.history(B, "later")
    assert await memory.delete(None, "same") is True
    assert await memory.get(A, "same") is not None


# -- chains ------------------------------------------------------------------------------


async def test_history_is_the_chain_oldest_first_ending_with_the_named_response():
    memory = store()
    await chain_of(memory, A, ["r1", "r2", "r3"])
    await memory.put(A, item("fork", "r2"))  # two follow-ups of one turn: two conversations
    assert ids(await memory.history(A, "r3")) == ["r1", "r2", "r3"]
    assert ids(await memory.history(A, "fork")) == ["r1", "r2", "fork"]
    assert ids(await memory.history(A, "r1")) == ["r1"]
    chain = await memory.history(A, "r3")
    assert chain[1] == item("r2", "r1")  # each turn whole: response, input items, link
    assert await memory.history(A, "unknown") is None


async def test_a_deleted_turn_breaks_the_chains_through_it_with_a_404():
    memory = store()
    await chain_of(memory, A, ["r1", "r2", "r3"])
    assert await memory.delete(A, "r2") is True
    assert await memory.delete(A, "r2") is False
    with pytest.raises(BrokenChain) as caught:
        await memory.history(A, "r3")
    error = caught.value
    assert (error.status, error.type, error.code, error.param) == (
        404, "invalid_request_error", "previous_response_not_found", "previous_response_id")
    assert error.missing == "r2" and "'r2'" in error.message and "'r3'" in error.message
    assert error.headers == {"x-should-retry": "false"} and not error.retryable
    assert await memory.get(A, "r3") is not None  # the response itself is still readable
    assert ids(await memory.history(A, "r1")) == ["r1"]


async def test_an_expired_earlier_turn_breaks_the_chain():
    clock = Clock(0.0)
    memory = store(clock, ttl=10.0)
    await memory.put(A, item("r1"))
    clock.now = 5.0
    await memory.put(A, item("r2", "r1"))
    clock.now = 10.0
    with pytest.raises(BrokenChain) as caught:
        await memory.history(A, "r2")
    assert caught.value.missing == "r1"


async def test_a_chain_longer_than_max_chain_is_refused_with_a_400():
    memory = store(max_chain=3)
    await chain_of(memory, A, ["r1", "r2", "r3", "r4"])
    assert ids(await memory.history(A, "r3")) == ["r1", "r2", "r3"]  # exactly the bound
    with pytest.raises(ChainTooLong) as caught:
        await memory.history(A, "r4")
    error = caught.value
    assert (error.status, error.code, error.param, error.limit) == (
        400, "previous_response_chain_too_long", "previous_response_id", 3)
    assert error.headers == {"x-should-retry": "false"}


async def test_max_links_bounds_one_call_but_never_above_max_chain():
    memory = store(max_chain=3)
    await chain_of(memory, A, ["r1", "r2", "r3", "r4"])
    with pytest.raises(ChainTooLong) as caught:
        await memory.history(A, "r2", max_links=1)
    assert caught.value.limit == 1
    assert ids(await memory.history(A, "r2", max_links=2)) == ["r1", "r2"]
    with pytest.raises(ChainTooLong) as caught:
        await memory.history(A, "r4", max_links=100)
    assert caught.value.limit == 3


async def test_a_loop_of_ids_ends_at_the_bound():
    memory = store(max_chain=10)
    await memory.put(A, item("x", "y"))
    await memory.put(A, item("y", "x"))
    with pytest.raises(ChainTooLong):
        await memory.history(A, "x")


# -- the stored form, the null store, the outage error -----------------------------------


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'{"response": {"id": 1}, "input_items": []}',
    b'{"response": {"id": "r"}, "input_items": {}}', b'{"response": {"id": "r"}, "input_items": [], '
    b'"previous_response_id": 5}', None, 42,
])
def test_unreadable_stored_forms_decode_to_nothing(data):
    assert decode_stored(data) is None


def test_the_stored_form_round_trips():
    stored = item("r2", "r1")
    assert decode_stored(stored.encode()) == stored
    assert decode_stored(StoredResponse({"id": "r"}, []).encode()) == StoredResponse({"id": "r"}, [], None)


async def test_the_null_store_keeps_nothing():
    null = NullResponseStore()
    await null.put(A, item("r1"))
    assert await null.get(A, "r1") is None
    assert await null.history(A, "r1") is None
    assert await null.delete(A, "r1") is False
    await null.aclose()


def test_store_unavailable_is_a_retryable_503_with_a_retry_after():
    error = StoreUnavailable(4.4)
    assert (error.status, error.type, error.code, error.retryable) == (503, "server_error", "store_unavailable", True)
    assert error.retry_after == 4.4
    # As the client gets them: the edge adds Retry-After from retry_after, once.
    assert with_retry_hints(error) == {"x-should-retry": "true", "Retry-After": "5"}
    assert with_retry_hints(StoreUnavailable()) == {"x-should-retry": "true"}


# -- the factory: one shelf per gateway, kept across assemblies --------------------------


async def test_the_factory_keeps_entries_on_the_gateways_shelf_across_assemblies():
    clock = Clock(0.0)
    lasting: dict = {}
    services = Services(http=None, config=None, clock=clock, lasting=lasting)
    first = make_memory_store(options=ResponsesConfig(ttl=100.0), services=services)
    await chain_of(first, A, ["r1", "r2"])
    await first.aclose()  # an assembly retired: its store lets go of nothing
    # The next assembly (a reload) with tighter bounds: same entries, new bounds from its first put.
    second = make_memory_store(options=ResponsesConfig(ttl=5.0, max_entries=2), services=services)
    assert isinstance(lasting[SHELF_KEY], Shelf) and second.shelf is first.shelf
    assert ids(await second.history(A, "r2")) == ["r1", "r2"]
    await second.put(A, item("r3", "r2"))
    assert await second.get(A, "r1") is None and len(second.shelf) == 2
    clock.now = 5.0
    assert await second.get(A, "r3") is None  # the new TTL
    assert await second.get(A, "r2") is not None  # stored under the old one (100 s)
    # Another gateway has a shelf of its own.
    other = make_memory_store(options=ResponsesConfig(), services=Services(http=None, config=None))
    assert await other.get(A, "r2") is None


def test_the_factory_turns_max_mb_into_bytes():
    services = Services(http=None, config=None)
    memory = make_memory_store(options=ResponsesConfig(max_mb=0.5, max_entries=7, max_chain=9), services=services)
    assert (memory._max_bytes, memory._max_entries, memory._max_chain) == (524_288, 7, 9)
