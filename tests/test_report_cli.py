"""`routetax report` answers a mistyped time with a message and exit code 2, not a traceback."""

from __future__ import annotations

import pytest

from router.report_cli import main


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_an_unparseable_time_is_a_usage_error(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([flag, "yesterday-ish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("routetax report: not a time: 'yesterday-ish'")
    assert "Traceback" not in err
