"""Latent spaces: the Encoder base and ``pixel``, ``detail``, diffusers VAEs, the TAESD family,
their shared tile plan and out-of-memory retry, the Hub rule, the registry and the latent cache.

Imports :mod:`dot_core.ot` and :mod:`dot_core.io` only.
"""
