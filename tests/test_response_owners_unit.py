"""Which tier and key own a stored Responses API object: what a continuation is routed by, in process."""

from __future__ import annotations

import orjson
import pytest

from router import response_owners as owners_module
from router.response_owners import ResponseOwners, decode_owner, encode_owner, response_id_of
from tests.in_process import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock().install(monkeypatch, owners_module)


def test_the_response_id_is_read_from_the_answer() -> None:
    assert response_id_of(b'{"id":"resp_1","object":"response","output":[]}') == "resp_1"
    assert response_id_of(b' \n{"id": "resp_2", "object": "response"}') == "resp_2"
    late = orjson.dumps({"object": "response", "output": [{"id": "msg_1"}] * 40, "id": "resp_3"})
    assert response_id_of(late) == "resp_3"  # not near the start: the whole body is read
    for body in (b"not json", b"[1, 2]", b'{"id": 7}', b'{"object": "response"}'):
        assert response_id_of(body) is None


def test_an_owner_is_its_tier_and_the_key_that_created_it() -> None:
    assert decode_owner(encode_owner("mini", "key_1")) == ("mini", "key_1")
    assert encode_owner("mini", None) == "mini" and decode_owner("mini") == ("mini", None)


async def test_owners_are_remembered_until_they_expire(clock: Clock) -> None:
    owners = ResponseOwners(ttl_s=60)
    owners.put("resp_1", "mini", "key_1")
    assert await owners.get("resp_1") == ("mini", "key_1")
    assert await owners.get("resp_unknown") is None
    clock.advance(61)
    assert await owners.get("resp_1") is None


async def test_the_map_is_bounded_and_keeps_the_most_recent(clock: Clock) -> None:
    owners = ResponseOwners(ttl_s=60, max_entries=2)
    owners.put("resp_1", "nano", None)
    owners.put("resp_2", "mini", None)
    owners.put("resp_1", "nano", None)  # written again: now the most recent
    owners.put("resp_3", "full", None)
    assert [await owners.get(r) for r in ("resp_1", "resp_2", "resp_3")] == [("nano", None), None, ("full", None)]
