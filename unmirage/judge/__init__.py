"""Judges: keyword (the paper's list), keyword-strict, world ground truth, local model judge."""

from unmirage.data.sample import TASKS, task_of
from unmirage.judge import keyword, model, world
from unmirage.judge.base import JUDGES, VERDICTS, Judge, Verdict, get_judge

__all__ = [
    "JUDGES",
    "TASKS",
    "VERDICTS",
    "Judge",
    "Verdict",
    "get_judge",
    "keyword",
    "model",
    "task_of",
    "world",
]
