"""Bytewax entry points: ``python -m bytewax.run flows.<name>``."""
