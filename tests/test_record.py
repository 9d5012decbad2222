"""The record is the contract with the ledger: its closed sets are enums that serialise as their plain strings."""

from __future__ import annotations

import json

import orjson

from metering.metrics import Metrics
from metering.record import Attempt, EndedBy, Outcome, Record
from router.keys import Admission
from router.upstream import FailureKind


def _record() -> Record:
    attempts = [
        Attempt(tier="nano", model="gpt-5-nano", ended_by=EndedBy.RETRY, error_type=FailureKind.TIMEOUT),
        Attempt(tier="nano", model="gpt-5-nano", status=200),
    ]
    return Record(request_id="req-1", tier_path=["nano"], attempts=attempts, outcome=Outcome.DEGRADED)


def test_the_ledger_json_holds_the_enums_plain_values() -> None:
    written = orjson.dumps(_record())  # as the ledger writes it (orjson serialises the dataclass itself)
    assert b'"outcome":"degraded"' in written and b'"ended_by":"retry"' in written
    assert b'"error_type":"timeout"' in written and b'"ended_by":"ok"' in written
    assert orjson.dumps(_record().to_dict()) == written  # the dict form (export, replay) is the same bytes
    assert json.loads(json.dumps(_record().to_dict())) == orjson.loads(written)  # the stdlib agrees


def test_a_record_read_back_has_its_enums_again() -> None:
    back = Record.from_dict(orjson.loads(orjson.dumps(_record())))
    assert back.outcome is Outcome.DEGRADED
    assert [a.ended_by for a in back.attempts] == [EndedBy.RETRY, EndedBy.OK]
    assert back.to_dict() == _record().to_dict()


def test_metric_labels_are_the_plain_values() -> None:
    metrics = Metrics()
    metrics.observe(_record())
    text = metrics.render().decode()
    assert 'outcome="degraded"' in text and 'result="retry"' in text and 'result="ok"' in text
    assert "Outcome." not in text and "EndedBy." not in text


def test_enums_compare_equal_to_the_strings_written_before_them() -> None:
    assert Outcome("client_cancelled") is Outcome.CLIENT_CANCELLED and EndedBy.REDO == "redo"
    assert [FailureKind.TIMEOUT, Admission.BUDGET] == ["timeout", "budget"]
    assert f"upstream_{FailureKind.CONNECT_ERROR}" == "upstream_connect_error"
