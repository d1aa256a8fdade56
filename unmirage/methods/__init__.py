"""Training objectives, one file each, collected in a registry."""

from unmirage.methods.base import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]
