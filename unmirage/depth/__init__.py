"""Is the safety deep? Relearning, a knowledge probe and trigger saliency on any model."""
