"""The optimal-transport math: Gaussian maps (eq. 2, eq. 5) and W2, patch moments, patches and the fold.

The bottom of the engine: it imports nothing from the rest of ``dot_core``.
"""
