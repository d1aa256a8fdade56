"""Judges: keyword (the paper's list), keyword-strict, world ground truth, local model judge;
`base.JUDGES` imports a judge's module the first time it is asked for."""

from unmirage.data.sample import TASKS, task_of
from unmirage.judge.base import JUDGES, VERDICTS, Judge, Verdict, get_judge

__all__ = ["JUDGES", "TASKS", "VERDICTS", "Judge", "Verdict", "get_judge", "task_of"]
