"""task=synthetic_cubic: squashed against regular cubic neighbour shells.

The data module (`datamodule`).
"""
