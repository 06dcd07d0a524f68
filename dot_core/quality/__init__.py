"""What people see, measured: PSNR, SSIM, texture and spectrum distances, the lattice measure,
the perception–distortion curve along eq. (4), and FID/KID/LPIPS through torchmetrics.

Imports :mod:`dot_core.ot` and :mod:`dot_core.io` only.
"""
