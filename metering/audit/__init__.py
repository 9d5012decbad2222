"""`routetax audit`: reading existing request logs for the routing-tax answer.

formats (one reader per log shape) -> scan (streaming counts, a Tally). What the counts mean in dollars
and policies is the tax engine's (`metering.tax.audit` projects, `metering.tax.audit_text` renders), the
same package the report uses. Uses the classifier and metering's prices, cost and tokenizer; never the
router. The command itself (its flags, its exit codes) is `cli/audit.py`.
"""
