"""`embeddings:` in the configuration: which tier serves /v1/embeddings, for which models, and when it is off."""

from __future__ import annotations

import pytest

from router.config import DEFAULT_EMBEDDING_MODELS, Config, ConfigError, Tier, load_config


def config_with(tiers: dict[str, Tier], **embeddings: object) -> Config:
    return Config.model_validate(
        {
            "tiers": tiers,
            "policy": {"single_turn": next(iter(tiers)), "agentic": next(iter(tiers))},
            "embeddings": embeddings,
        }
    )


def test_by_default_nano_serves_the_openai_embedding_models() -> None:
    config = Config()
    assert config.embeddings_tier() == "nano"
    for model in DEFAULT_EMBEDDING_MODELS:
        assert config.embedding_tier(model) == "nano"


def test_a_model_not_listed_has_no_tier_though_the_endpoint_is_on() -> None:
    config = Config()
    assert config.embedding_tier("gpt-5.4-nano") is None
    assert config.embeddings_tier() == "nano"  # so the adapter answers model_not_found, not "not configured"


def test_nano_on_another_dialect_is_not_an_embeddings_default() -> None:
    config = config_with({"nano": Tier(model="Qwen/Qwen3.5-9B", base_url="http://127.0.0.1:8000/v1", dialect="vllm")})
    assert config.embeddings_tier() is None
    assert config.embedding_tier("text-embedding-3-small") is None


def test_without_a_nano_tier_embeddings_are_off_until_a_tier_is_named() -> None:
    mini = Tier(model="gpt-5.4-mini")
    assert config_with({"mini": mini}).embeddings_tier() is None
    named = config_with({"mini": mini}, tier="mini", models=["text-embedding-3-large"])
    assert named.embedding_tier("text-embedding-3-large") == "mini"
    assert named.embedding_tier("text-embedding-3-small") is None  # the list replaces the default one


def test_enabled_false_turns_the_endpoint_off() -> None:
    config = Config.model_validate({"embeddings": {"enabled": False}})
    assert config.embeddings_tier() is None
    assert config.embedding_tier("text-embedding-3-small") is None


def test_the_environment_names_the_tier_and_the_models() -> None:
    config = load_config(
        None, environ={"ROUTETAX_EMBEDDINGS__TIER": "mini", "ROUTETAX_EMBEDDINGS__MODELS": "[text-embedding-3-small]"}
    )
    assert config.embedding_tier("text-embedding-3-small") == "mini"
    assert config.embeddings.models == ["text-embedding-3-small"]


def test_a_tier_that_is_not_configured_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.tier: tier 'large' is not configured"):
        load_config(None, environ={"ROUTETAX_EMBEDDINGS__TIER": "large"})


def test_repeated_models_are_listed_once() -> None:
    config = Config.model_validate({"embeddings": {"models": ["text-embedding-3-small", "text-embedding-3-small"]}})
    assert config.embeddings.models == ["text-embedding-3-small"]
