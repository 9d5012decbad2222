"""`routetax report` answers a mistyped time with a message and exit code 2, not a traceback."""

from __future__ import annotations

import pytest

from cli import main as routetax


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_an_unparseable_time_is_a_usage_error(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["report", flag, "yesterday-ish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("routetax report: not a time: 'yesterday-ish'")
    assert "Traceback" not in err
