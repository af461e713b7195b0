"""task=crystal: local-environment structure identification (eight crystal prototypes).

The data module (`datamodule`) and the prototypes' cells and neighbour lists (`cells`).
"""
