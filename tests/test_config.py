"""Configuration: the minimal file works, env overrides apply, bad values stop the process naming the key."""

from __future__ import annotations

import os
import re
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


def test_an_environment_override_without_a_file_moves_one_default_tier_and_keeps_the_others() -> None:
    config = load_config(None, environ={"ROUTETAX_TIERS__NANO__BASE_URL": "http://10.0.0.5:9000/v1"})  # the README's
    assert list(config.tiers) == ["nano", "mini", "qwen", "full"]
    nano = config.tiers["nano"]
    assert (nano.model, nano.api_key_env) == ("gpt-5.4-nano", "OPENAI_API_KEY")
    assert nano.base_url == "http://10.0.0.5:9000/v1"
    assert config.tiers["mini"].base_url == "https://api.openai.com/v1"


def test_the_self_hosted_guide_points_qwen_at_an_engine_by_environment(tmp_path: Path) -> None:
    env = {"ROUTETAX_TIERS__QWEN__BASE_URL": "http://10.0.0.7:8080/v1", "ROUTETAX_TIERS__QWEN__DIALECT": "llamacpp"}
    qwen = load_config(None, environ=env).tiers["qwen"]  # docs/self-hosted.md's example, no file
    assert (qwen.model, qwen.base_url, qwen.dialect) == ("Qwen/Qwen3.5-9B", "http://10.0.0.7:8080/v1", "llamacpp")
    with_file = load_config(write(tmp_path, "tiers:\n  nano: {model: a}\n  mini: {model: b}\n"), environ=env)
    assert list(with_file.tiers) == ["nano", "mini", "qwen"]  # the file's, and the default tier the variables name
    assert with_file.tiers["qwen"].model == "Qwen/Qwen3.5-9B"


def test_an_override_naming_a_tier_nobody_defines_still_needs_its_model() -> None:
    with pytest.raises(ConfigError, match="tiers.local.model: Field required"):
        load_config(None, environ={"ROUTETAX_TIERS__LOCAL__BASE_URL": "http://10.0.0.9:8000/v1"})
    env = {"ROUTETAX_TIERS__LOCAL__BASE_URL": "http://10.0.0.9:8000/v1", "ROUTETAX_TIERS__LOCAL__MODEL": "m"}
    config = load_config(None, environ=env)
    assert list(config.tiers) == ["nano", "mini", "qwen", "full", "local"]


def test_the_readme_lists_every_section_an_override_can_name() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    sentence = readme.split("Only variables whose first segment names a", 1)[1].split(")", 1)[0]
    listed = set(re.findall(r"`(\w+)`", sentence))
    assert listed == set(Config.model_fields)


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("http://", "must name a host"),
        ("http://127.0.0.1:99999/v1", "must name a port from 1 to 65535"),
        ("http://127.0.0.1:0/v1", "must name a port from 1 to 65535"),
        ("http://my host:9000/v1", "must be a URL without spaces"),
        ("http://127.0.0.1:9000/v1 ", "must be a URL without spaces"),
        ("ftp://127.0.0.1/v1", "must be an http:// or https:// URL"),
        ("http://user:secret@127.0.0.1:9000/v1", "must not carry credentials"),
        ("http://127.0.0.1:9000/v1?key=1", "must not have a query"),
        ("http://bad..host/v1", "must name a valid host name"),
    ],
)
def test_a_base_url_every_request_would_fail_on_stops_the_start(tmp_path: Path, base_url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:  # quoted in the file: a trailing space survives YAML
        load_config(write(tmp_path, f"tiers:\n  nano: {{model: m, base_url: '{base_url}'}}\n"), environ={})
    message = str(caught.value)
    assert f"tiers.nano.base_url: {says}" in message and "Value error" not in message
    assert "secret" not in message


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:9000/v1", "https://api.openai.com/v1/", "http://[::1]:8000/v1", "http://ollama_1:11434/v1"],
)
def test_ordinary_base_urls_are_accepted(base_url: str) -> None:
    tier = load_config(None, environ={"ROUTETAX_TIERS__NANO__BASE_URL": base_url}).tiers["nano"]
    assert tier.base_url == base_url.rstrip("/")


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


def test_serve_with_a_base_url_without_a_host_exits_2_naming_it(processes: Processes) -> None:
    env = {**os.environ, "ROUTETAX_TIERS__NANO__BASE_URL": "http://"}
    env.pop("ROUTETAX_CONFIG", None)
    result = processes.run([sys.executable, "-m", "cli", "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "routetax: invalid configuration (ROUTETAX_* overrides): tiers.nano.base_url: must name a host "
        "(http://HOST[:PORT]/...), got 'http://'"
    ]


def test_default_config_is_valid_pydantic() -> None:
    assert Config().tiers["full"].model == "gpt-5.4"
