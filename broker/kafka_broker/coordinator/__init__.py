"""Coordinators built on the replicated log: consumer groups (``__consumer_offsets``) and producer ids."""
