"""Between the source and the sinks: what a shard has prepared but not yet written (see pending.py)."""
