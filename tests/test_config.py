"""Configuration: the minimal file works, env overrides apply, bad values stop the process naming the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from router.config import Config, ConfigError, load_config
from tests.running import Processes

MINIMAL = """
tiers:
  nano: {model: gpt-5.4-nano, base_url: "http://127.0.0.1:9000/v1"}
  mini: {model: gpt-5.4-mini, base_url: "http://127.0.0.1:9000/v1", api_key_env: OPENAI_API_KEY}
  qwen: {model: Qwen/Qwen3.5-9B, base_url: "http://127.0.0.1:8000/v1", dialect: vllm}
store: {redis_url: "redis://127.0.0.1:6379/0"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routetax.yaml"
    path.write_text(text)
    return path


def test_minimal_file_from_the_issue_works_as_is(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert set(config.tiers) == {"nano", "mini", "qwen"}
    assert config.tiers["qwen"].dialect == "vllm"
    assert config.tiers["nano"].pool_size == 10_000 and config.tiers["nano"].timeouts.connect == 5.0
    assert config.store.redis_url == "redis://127.0.0.1:6379/0"
    assert config.policy.single_turn == "nano" and config.policy.agentic == "mini"


def test_no_file_gives_the_documented_defaults() -> None:
    config = load_config(None, environ={})
    assert {n: t.model for n, t in config.tiers.items()} == {
        "nano": "gpt-5.4-nano",
        "mini": "gpt-5.4-mini",
        "qwen": "Qwen/Qwen3.5-9B",
        "full": "gpt-5.4",
    }
    assert config.tiers["mini"].base_url == "https://api.openai.com/v1"
    assert config.tiers["mini"].api_key_env == "OPENAI_API_KEY"
    assert config.tiers["qwen"].base_url == "http://127.0.0.1:8000/v1"
    assert config.store.redis_url is None


def test_environment_overrides_walk_into_the_tree(tmp_path: Path) -> None:
    env = {
        "ROUTETAX_SERVER__PORT": "8181",
        "ROUTETAX_TIERS__NANO__BASE_URL": "http://10.0.0.5:9000/v1",
        "ROUTETAX_STORE__REDIS_URL": "redis://cache:6379/2",
        "ROUTETAX_ADMIN_KEY": "not-a-config-key",
    }
    config = load_config(write(tmp_path, MINIMAL), environ=env)
    assert config.server.port == 8181
    assert config.tiers["nano"].base_url == "http://10.0.0.5:9000/v1"
    assert config.tiers["nano"].model == "gpt-5.4-nano"  # the rest of the tier is kept
    assert config.store.redis_url == "redis://cache:6379/2"


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    config = load_config(None, environ={"ROUTETAX_CONFIG": str(write(tmp_path, MINIMAL))})
    assert "qwen" in config.tiers and "full" not in config.tiers


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("tiers:\n  nano: {model: m, base_url: ftp://x}\n", {}, "tiers.nano.base_url"),
        ("tiers:\n  nano: {model: m, dialect: tgi}\n", {}, "tiers.nano.dialect"),
        ("tiers:\n  nano: {model: m, pool_size: 0}\n", {}, "tiers.nano.pool_size"),
        ("tiers:\n  nano: {model: m, colour: red}\n", {}, "tiers.nano.colour"),
        ("tiers:\n  nano: {base_url: 'http://x'}\n", {}, "tiers.nano.model"),
        ("server: {port: 99999}\n", {}, "server.port"),
        ("store: {redis_url: 'http://redis'}\n", {}, "store.redis_url"),
        ("policy: {agentic: large}\n", {}, "policy.agentic"),
        ("", {"ROUTETAX_SERVER__PORT": "eighty"}, "server.port"),
        ("embeddings: {tier: large}\n", {}, "embeddings.tier"),
        ("", {"ROUTETAX_EMBEDDINGS__TIER": "large"}, "embeddings.tier"),
        ("embeddings: {models: []}\n", {}, "embeddings.models"),
        ("embeddings: {models: ['']}\n", {}, "embeddings.models"),
        ("embeddings: {models: [3]}\n", {}, "embeddings.models"),
        ("embeddings: {dimensions: 3}\n", {}, "embeddings.dimensions"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=env)
    assert named in str(caught.value)


def test_unreadable_and_non_mapping_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", environ={})
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "tiers: {nano: [\n"), environ={})


def test_serve_with_a_bad_config_exits_non_zero_naming_the_key(tmp_path: Path, processes: Processes) -> None:
    path = write(tmp_path, "tiers:\n  nano: {model: m, timeouts: {read: -1}}\n")
    result = processes.run(
        [sys.executable, "-m", "cli", "serve", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "tiers.nano.timeouts.read" in result.stderr


def test_default_config_is_valid_pydantic() -> None:
    assert Config().tiers["full"].model == "gpt-5.4"
