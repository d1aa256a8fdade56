"""The training plumbing every method shares: the loop (`train`), the data streams and their
mixing weights (`streams`), early stopping on a held-out forget leak (`stopping`) and the run
settings a user can set from the command line or a YAML file (`run_settings`)."""
