"""The request path, by stage: intake → attempts → relay.

- `intake`: parse once → validate → classify → resolve the tier → admit (keys, budgets) ⇒ an `Exchange`
  with its plan; refusals are raised here, before any upstream is asked.
- `walker`: the pure walker, `(position, outcome) → next step` (retry after X, fall back, redo, answer,
  give up): every retry rule in one file, tested table by table.
- `attempt`: one attempt's network I/O, reduced to an `Outcome` for the walker.
- `relay`: the answer to the client (JSON bytes, SSE event by event), then the record to metering.
- `proxy`: the thin loop that joins them (`Proxy`, built by `router.app`).
- `breaker` and `answers`: the circuit breaker, and the usable-answer checks the outcomes rest on.
"""
