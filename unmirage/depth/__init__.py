"""Is the safety real? Attacks and probes that look below a model's first refusal."""
