"""Benchmarks of the panel (``make bench``): data generator, stock Flask-Admin baseline, runner."""
