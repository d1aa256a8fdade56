"""Training objectives, one file each, collected in a registry."""

from unmirage.methods import graddiff as graddiff
from unmirage.methods import npo as npo
from unmirage.methods import rmu as rmu
from unmirage.methods import sft as sft
from unmirage.methods import simnpo as simnpo
from unmirage.methods.base import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]
