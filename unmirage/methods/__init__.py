"""Training objectives, one file each; `catalog` lists them (torch-free) and `base.METHODS`
imports a method's file the first time it is asked for."""
