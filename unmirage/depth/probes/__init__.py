"""The probes, one file each (relearn, knowledge, saliency); `base.PROBES` imports a probe's
file the first time it is asked for, and `base.Probe` is what each file defines."""
