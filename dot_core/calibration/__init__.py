"""Calibration: the two sets' patch moments and the operator of eq. (2) fitted from them, with
what makes it trustworthy (pairing by name, the restorer's grid, content match, reach), its
files, and the all-reduce across processes.

Imports :mod:`dot_core.ot`, :mod:`dot_core.latents`, :mod:`dot_core.quality` and :mod:`dot_core.io`.
"""

from .checks import LATTICE_AUTO, MODES, check_restoration_lattice
from .fit import Calibrator, latent_patch_moments
from .result import Calibration

__all__ = ["MODES", "LATTICE_AUTO", "Calibration", "Calibrator", "check_restoration_lattice", "latent_patch_moments"]
