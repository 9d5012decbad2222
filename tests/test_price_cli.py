"""`routetax price` as a user runs it."""

from __future__ import annotations

import json

import pytest

from metering import price_cli


def test_json_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        price_cli.main(
            [
                "--model",
                "gpt-5.4",
                "--prompt",
                "272001",
                "--completion",
                "1000",
                "--cached",
                "1",
                "--service-tier",
                "flex",
                "--region",
                "eu",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"input_usd", "cached_usd", "output_usd", "total_usd", "modifiers"} <= set(out)
    assert out["modifiers"] == ["cached", "flex", "long_context", "region:eu"]
    assert out["total_usd"] == pytest.approx(1.1 * (272_000 * 2.5e-6 + 1 * 0.25e-6 + 1000 * 11.25e-6))


def test_text_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert price_cli.main(["--model", "gpt-5.4-nano", "--prompt", "1000", "--completion", "1000"]) == 0
    assert "total     $0.00145000" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "gpt-5.4-nano", "--prompt", "10", "--completion", "1", "--cached", "11"],
        ["--model", "gpt-5.4-nano", "--prompt", "-1", "--completion", "1"],
        ["--model", "gpt-5.4-nano", "--prompt", "1", "--completion", "1", "--reasoning", "2"],
        ["--model", "no-such-model", "--prompt", "1", "--completion", "1"],
    ],
)
def test_impossible_input_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert price_cli.main(args) == 2
    assert "routetax price:" in capsys.readouterr().err
