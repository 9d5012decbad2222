"""`POST /v1/embeddings`: passed through to the configured embeddings tier; authorised, budgeted, metered.

Not classified and not routed: an embedding is not a step of a task, and the model the client
names is the model it gets (embeddings of two models are not interchangeable), so the body goes
upstream as sent. Metering prices it at the embedding model's own rate.
"""

from __future__ import annotations

from typing import Any

import orjson

from metering.record import EMBEDDING_LABEL
from router.apis.base import Adapter, Api, sized
from router.config import Config, Tier
from router.dialects import Dialect
from router.errors import ProxyError, Refusal, echo
from router.validation import validate_embeddings


class EmbeddingsApi(Adapter):
    name: Api = "embeddings"
    upstream_path = "/embeddings"

    def __init__(self, config: Config) -> None:
        self.config = config

    def validate(self, body: dict[str, Any]) -> None:
        validate_embeddings(body)

    label = EMBEDDING_LABEL  # not classified: recorded apart from tasks, kept out of the routing-tax report

    def passthrough_tier(self, body: dict[str, Any]) -> str:
        """The tier serving the model's embeddings; a 404 when embeddings are off or the model is not listed."""
        model = body["model"]
        if self.config.embeddings_tier() is None:
            raise ProxyError(
                Refusal.EMBEDDINGS_NOT_CONFIGURED,
                "This router serves no embeddings; configure `embeddings` (a tier and its models) to pass them "
                "through.",
                param="model",
            )
        tier = self.config.embedding_tier(model)
        if tier is None:
            listed = ", ".join(self.config.embeddings.models)
            raise ProxyError(
                Refusal.MODEL_NOT_FOUND,
                f"The embedding model `{echo(model)}` is not served by this router (embeddings.models: {listed}).",
                param="model",
            )
        return tier

    def upstream_model(self, body: dict[str, Any], tier: Tier) -> str:
        return body["model"]

    def payload(self, body: dict[str, Any], tier: Tier, dialect: Dialect, stream: bool) -> bytes:
        return sized(orjson.dumps(body))  # the client's model, untouched
