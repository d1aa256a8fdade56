"""Is the safety real? Attacks and probes that look below a model's first refusal: GCG,
prefill, relearning, a knowledge probe and trigger saliency."""
