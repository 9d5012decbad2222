"""`routetax price` as a user runs it."""

from __future__ import annotations

import json

import pytest

from cli import main as routetax


def test_json_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        routetax(
            [
                "price",
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
    assert routetax(["price", "--model", "gpt-5.4-nano", "--prompt", "1000", "--completion", "1000"]) == 0
    assert "total     $0.00145000" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "gpt-5.4-nano", "--prompt", "10", "--completion", "1", "--cached", "11"],
        ["--model", "gpt-5.4-nano", "--prompt", "-1", "--completion", "1"],
        ["--model", "gpt-5.4-nano", "--prompt", "1", "--completion", "1", "--reasoning", "2"],
        ["--model", "no-such-model", "--prompt", "1", "--completion", "1"],
        # requests the upstream would refuse have no price (they once priced at $1.125, exit 0)
        ["--model", "gpt-5.4-mini", "--prompt", "300000", "--completion", "200000"],
        ["--model", "gpt-5.4-mini", "--prompt", "1000", "--completion", "128001"],
        ["--model", "gpt-5.4-nano", "--prompt", "400000", "--completion", "10"],
        ["--model", "Qwen/Qwen3.5-9B", "--prompt", "262145", "--completion", "10"],
        # a mode that does not exist (nano priority is priced: 2x, as the proxy bills it)
        ["--model", "gpt-5.4-mini", "--prompt", "1", "--completion", "1", "--batch", "--service-tier", "flex"],
    ],
)
def test_impossible_input_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["price", *args]) == 2
    assert "routetax price:" in capsys.readouterr().err


def test_limits_are_inclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["price", "--model", "gpt-5.4-mini", "--prompt", "272000", "--completion", "128000", "--json"]) == 0
    assert routetax(["price", "--model", "Qwen/Qwen3.5-9B", "--prompt", "262144", "--completion", "10", "--json"]) == 0


def test_tier_names_stand_for_their_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["price", "--model", "mini", "--prompt", "1000", "--completion", "1000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "gpt-5.4-mini"
    assert routetax(["price", "--model", "qwen", "--prompt", "1000", "--completion", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == 0.0
    assert routetax(["price", "--model", "nano", "--prompt", "300000", "--completion", "1"]) == 2
    assert "input limit of 272,000" in capsys.readouterr().err
