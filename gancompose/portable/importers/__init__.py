"""Importers: official checkpoints of other projects converted into gancompose network files.

Every importer reads its source with ``torch.load(weights_only=True)`` (tensors and plain containers
only: no code from the file runs) and writes a ``gancompose.network/1`` file.
"""
IMPORTERS = {"cyclegan": "gancompose.portable.importers.cyclegan"}
