"""Is the safety real? Attacks and probes that look below a model's first refusal.

Vocabulary: an *attack* makes inputs that `unmirage eval` judges (GCG suffixes, gcg*.py and
targets.py; the prefilled answer, pipeline.py). A *probe* measures what a loaded model holds
on the world's data and writes one JSON block: one module of `probes/` each (relearning, the
linear knowledge probe, whose key is "probe", and trigger saliency), listed in
`probes.base.PROBES`. world.py reads the world they share, decision.py the refusal decision
saliency reads, knobs.py holds the depth stages' knobs, run.py runs the probes over models and
pipeline.py is the depth stages of `unmirage reproduce`."""
