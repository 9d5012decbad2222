"""Metering's view of routetax's configuration: the one place `Config` is translated for `metering`.

Metering never imports the router, so it cannot read `router.config.Config`; it takes the
small `MeteringSettings` built here instead. A new per-tier fact metering needs (a usage
reader for a dialect, say) is added in this one function.
"""

from __future__ import annotations

from metering.pipeline import MeteringSettings
from metering.prices import TierPricing, embedding_prices, tier_prices
from metering.tasks import TaskSettings
from router.config import Config
from router.dialects import dialect_for


def metering_settings(config: Config) -> MeteringSettings:
    """Prices (resolved once, here), regions, windows and usage readers per tier; the spool; tasks; the assumptions."""
    tiers = config.tiers
    pricing = {
        name: TierPricing(
            tier.model, tier.price.model_dump() if tier.price is not None else None, gpu_hour_usd=tier.gpu_hour_usd
        )
        for name, tier in tiers.items()
    }
    return MeteringSettings(
        enabled=config.metering.enabled,
        spool_dir=config.store.spool_dir,
        spool_max_bytes=config.store.spool_max_bytes,
        spool_reserve_bytes=config.store.spool_reserve_bytes,
        prices=tier_prices(pricing),
        embedding_prices=embedding_prices(tuple(config.embeddings.models)),
        regions={name: tier.region for name, tier in tiers.items()},
        input_limits={name: tier.input_limit() for name, tier in tiers.items()},
        read_usage={name: dialect_for(tier.dialect).usage_from for name, tier in tiers.items()},
        tasks=TaskSettings(
            enabled=config.tasks.enabled,
            idle_s=config.tasks.idle_s,
            max_steps=config.tasks.max_steps,
            repeated_calls=config.tasks.repeated_calls,
        ),
        access_log=config.log.access,
        router_hour_usd=config.report.router_hour_usd,
        classifier_usd_per_request=config.report.classifier_usd_per_request,
    )
