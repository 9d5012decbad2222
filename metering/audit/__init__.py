"""`routetax audit`: agentic share, token mix and the routing-tax verdict from existing request logs.

formats (one reader per log shape) -> scan (streaming counts) -> project (prices, policies,
verdict) -> render / --json. Uses the classifier and metering's prices, cost and tokenizer;
never the router. The command itself (its flags, its exit codes) is `cli/audit.py`.
"""
