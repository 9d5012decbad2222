"""routetax's own credentials at its upstreams: said at start when one is missing, named when one is refused.

A tier's key comes from the variable its `api_key_env` names. Unset, the tier starts anyway (a trial against
a local engine needs none) but sends no `Authorization`, and a provider answers 401 — which, relayed as it
came (`invalid_api_key`, "Incorrect API key provided"), reads to the client as if its own key were wrong.
The client's key never travels upstream, so an upstream 401 is always about routetax's credential: the
client is told so, as a 502 `server_error` with the code `upstream_credential_error`, like the other
`upstream_*` failures of a tier, and `x-should-retry: false` (retrying cannot fix a configuration).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from router.config import Tier
from router.errors import error_body

log = logging.getLogger("routetax")

CODE = "upstream_credential_error"
STATUS = 502  # the upstream refused the gateway, not the client: a bad gateway, not a 401 for the client's key
REFUSED_STATUS = 401  # what an upstream answers a missing or wrong key with


def unset_variables(tiers: Mapping[str, Tier], environ: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Each `api_key_env` variable that is unset or empty, with the tiers that name it (in config order)."""
    environ = os.environ if environ is None else environ
    unset: dict[str, list[str]] = {}
    for name, tier in tiers.items():
        if tier.api_key_env is not None and not environ.get(tier.api_key_env):
            unset.setdefault(tier.api_key_env, []).append(name)
    return unset


def warn_unset(tiers: Mapping[str, Tier], environ: Mapping[str, str] | None = None) -> None:
    """One WARNING line per unset variable, naming it and its tiers: said at start, not on the first 401."""
    for variable, names in unset_variables(tiers, environ).items():
        which = f"tier {names[0]}" if len(names) == 1 else f"tiers {', '.join(names)}"
        log.warning(
            "%s: api_key_env %s is not set: requests to %s carry no upstream key (an upstream that needs one "
            "answers them 502 %s)",
            which,
            variable,
            "it" if len(names) == 1 else "them",
            CODE,
        )


def refused(name: str, tier: Tier, upstream_status: int) -> bytes:
    """The client's answer when tier `name`'s upstream refused routetax's credential (its status: 401)."""
    setting = f"tiers.{name}.api_key_env"
    if tier.api_key_env is None:
        why = f"routetax sends it no key ({setting} is not configured)"
    elif not tier.api_key():
        why = f"the variable {tier.api_key_env} named by {setting} is not set on the router"
    else:
        why = f"the key in {tier.api_key_env} ({setting}) was not accepted"
    message = (
        f"The upstream of tier `{name}` refused routetax's upstream credential (HTTP {upstream_status}): {why}. "
        "This is the router's configuration, not your API key; its operator must fix it."
    )
    return error_body(message, status=STATUS, code=CODE)
