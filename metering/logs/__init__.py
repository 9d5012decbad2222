"""routetax's own logs: one schema for every line, the request it belongs to, rate limits, the access log.

- `context`: the request being handled (its id, task and key), set at intake and read by every line
  written while that request is handled;
- `output`: the formatters (JSON, the default, or text) and the one output path: a bounded queue that a
  writer thread empties onto stderr, so no line ever waits on a slow terminal, pipe or disk;
- `limiter`: the one home of rate-limited logging (`RateLimitedLog`, `OutageLog`);
- `access`: the access line of a finished (or refused) request.

docs/logging.md describes the schema, the configuration (`log.*`) and the limits.
"""
