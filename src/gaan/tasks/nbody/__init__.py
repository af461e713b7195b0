"""task=nbody: five charged bodies 10 frames ahead (nbody_small).

The data module (`datamodule`), the simulator (`simulation`) and its checksummed cache (`cache`).
"""
