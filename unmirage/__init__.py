"""unmirage: see through the safety mirage of vision-language models, and fix it."""

__version__ = "0.1.0"
