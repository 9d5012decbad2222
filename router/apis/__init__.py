"""One adapter per API routetax serves: what differs between chat completions, responses and embeddings.

The request path (`router.serving`) is the same for every API — intake, the attempt walker,
the relay. What an API changes is small and lives in its adapter: where the upstream serves it,
how its body is validated, whether it is classified and routed, what its first visible stream
event looks like, which answers are unusable. Adding an API is adding one module here and one
line in `adapters_for`.
"""

from __future__ import annotations

from router.apis.base import Adapter
from router.apis.chat import ChatApi
from router.apis.embeddings import EmbeddingsApi
from router.apis.responses import ResponsesApi
from router.config import Config
from router.response_owners import ResponseOwners

__all__ = ["Adapter", "ChatApi", "EmbeddingsApi", "ResponsesApi", "adapters_for"]


def adapters_for(config: Config, owners: ResponseOwners) -> dict[str, Adapter]:
    """The adapters by API name (`Record.api`); `router.hot_routes.HOT_PATHS` maps each client path to one."""
    return {"chat": ChatApi(), "responses": ResponsesApi(config, owners), "embeddings": EmbeddingsApi(config)}
