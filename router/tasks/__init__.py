"""Tasks on the router side: which task a request is a step of, its class, and filing its answer.

- `metering.task_atoms` (shared with the audit, which groups logged requests into tasks the same way): a history
  (chat messages, Responses items) and an answer as comparable atoms, their digests (pure).
- `index`: the continuation index — answers by the digest of the history that led to them (bounded).
- `prefix`: a step that resends the previous step's messages byte for byte, found by a hash of those bytes.
- `loop`: the loop signal — previous output back with new tool/environment output at machine pace (pure).
- `answer`: an answer (JSON or streamed) as atoms, marks and its tool calls' digest.
- `identity`: the resolver intake calls (header → response chain / conversation → continuation → new).
- `shared`: the index across workers and replicas through Redis (background writes, reads on a miss).
"""

from router.tasks.identity import TASK_END_HEADER, TASK_HEADER, TaskContext, TaskIdentity
from router.tasks.index import TaskIndex

__all__ = ["TASK_END_HEADER", "TASK_HEADER", "TaskContext", "TaskIdentity", "TaskIndex"]
