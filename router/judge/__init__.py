"""The optional judge (`tasks.judge`): grades a sampled share of tasks that end without a word on them.

`service.TaskJudge` holds it together; `sampling` decides which tasks, `exchange` reads a task's final
exchange, `keeper` keeps it in the store, `grader` asks the judge's tier and reads its answer.
"""

from router.judge.service import TaskJudge, build_judge

__all__ = ["TaskJudge", "build_judge"]
