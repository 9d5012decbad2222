"""Exploration's draw and its settings, in process: which share of `auto` tasks is explored, and where.

(The proxy's use of it — explored requests marked on their records, pinned requests and continuations never
explored — is tested end to end in tests/test_exploration.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import Config, ConfigError, load_config
from router.exploration import Explorer


def test_the_draw_honours_the_share_and_the_allowed_tiers() -> None:
    config = Config.model_validate({"policy": {"explore": {"share": 0.25, "tiers": ["nano", "mini"], "seed": 1}}})
    explorer = Explorer(config)
    draws = [explorer.arm(f"task_{i:024x}", lambda tier: True) for i in range(4000)]
    assert 0.22 < sum(d is not None for d in draws) / 4000 < 0.28
    assert {d for d in draws if d} == {"nano", "mini"}
    only_nano = Explorer(config)
    assert {only_nano.arm(f"task_{i}", lambda tier: tier == "nano") for i in range(200)} == {None, "nano"}
    assert Explorer.for_config(Config()) is None  # off by default in serve: the hot path pays nothing


def test_exploration_settings_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: {explore: {share: 0.1, tiers: [nano, gpt4]}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(bad))
    assert "policy.explore.tiers" in str(caught.value)
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text(
        "tiers: {nano: {model: gpt-5.4-nano}}\npolicy: {single_turn: nano, agentic: nano, explore: {share: 0.1}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(lonely))
    assert "at least two" in str(caught.value)
    share = tmp_path / "share.yaml"
    share.write_text("policy: {explore: {share: 1.5}}\n")
    with pytest.raises(ConfigError):
        load_config(str(share))


def test_the_same_seed_draws_the_same_arms_and_a_key_allowed_no_candidate_is_routed_as_usual() -> None:
    config = Config.model_validate({"policy": {"explore": {"share": 1.0, "tiers": ["nano", "mini"], "seed": 7}}})
    first, second = Explorer(config), Explorer(config)
    tasks = [f"task_{i}" for i in range(50)]
    assert [first.arm(t, lambda tier: True) for t in tasks] == [second.arm(t, lambda tier: True) for t in tasks]
    assert Explorer.for_config(config) is not None
    assert {first.arm(t, lambda tier: tier == "full") for t in tasks[:20]} == {None}


def test_a_task_draws_one_arm_whatever_the_step_worker_or_replica_and_the_seed_changes_the_draws() -> None:
    """The arm is a keyed hash of the task id: recomputed anywhere, it is the same; another seed, other arms."""
    seeded = {"policy": {"explore": {"share": 0.5, "tiers": ["nano", "mini"], "seed": 11}}}
    config = Config.model_validate(seeded)
    tasks = [f"task_{i:024x}" for i in range(400)]
    arms = [Explorer(config).arm(t, lambda tier: True) for t in tasks]  # a fresh explorer per step: same draw
    assert arms == [Explorer(config).arm(t, lambda tier: True) for t in tasks]
    assert {"nano", "mini", None} == set(arms)
    other = Config.model_validate({"policy": {"explore": {"share": 0.5, "tiers": ["nano", "mini"], "seed": 12}}})
    assert arms != [Explorer(other).arm(t, lambda tier: True) for t in tasks]
    unseeded = Config.model_validate({"policy": {"explore": {"share": 0.5, "tiers": ["nano", "mini"]}}})
    assert [Explorer(unseeded).arm(t, lambda tier: True) for t in tasks] == [
        Explorer(unseeded).arm(t, lambda tier: True) for t in tasks
    ]  # no seed: still one arm per task, the same on every replica
