"""Task plug-ins (prompt, parse, verify, score, cache key) and their registry.

`TASKS` maps a task name (as it appears in a trace's `task` column) to its plug-in; `get_task(name)`
looks one up and says which names exist when it is not there. Building the registry only creates a few
small objects: nothing is probed or loaded at import time (the code sandbox probes lazily on first use).
"""

from __future__ import annotations

from engine.errors import UnknownNameError
from engine.tasks.base import Task
from engine.tasks.choice import MultipleChoiceTask, TextClassificationTask
from engine.tasks.code_generation import CodeGenerationTask
from engine.tasks.log_parsing import LogParsingTask

TASKS: dict[str, Task] = {
    task.name: task
    for task in (LogParsingTask(), CodeGenerationTask(), TextClassificationTask(), MultipleChoiceTask())
}


def get_task(name: str) -> Task:
    """The task plug-in registered under `name`; UnknownNameError (listing the known names) otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):   # TypeError: an unhashable name (a list) is no task name either
        known = ", ".join(sorted(TASKS))
        raise UnknownNameError(f"unknown task {name!r}; known tasks: {known}") from None


__all__ = ["TASKS", "Task", "get_task", "LogParsingTask", "CodeGenerationTask", "TextClassificationTask",
           "MultipleChoiceTask"]
