"""The NumPy training core: dense networks, losses, optimizers and the training loop.

This package imports numpy and the standard library only (a test checks), so the
mathematics can be read, tested and reused without the rest of the pipeline.
"""
