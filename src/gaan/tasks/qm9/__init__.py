"""task=qm9: one molecular property per model.

The data module (`datamodule`), the files of either source (`files`) and the task module
(`molecular_property.MolecularPropertyTask`).
"""
