"""dot_core: few-shot perceptual enhancement of restored images by latent optimal transport.

An implementation of Adrai, Ohayon, Elad & Michaeli, "Deep Optimal Transport: A Practical
Algorithm for Photo-realistic Image Restoration" (NeurIPS 2023), usable without Gradio::

    from dot_core import Calibrator, DOTPipeline, load_encoder, load_image
    enc = load_encoder("detail")
    cal = Calibrator(enc, patch_size=5)
    for path in restored: cal.add_restored(load_image(path))
    for path in clean: cal.add_clean(load_image(path))
    pipe = DOTPipeline(enc, cal.fit())
    out = pipe.enhance(load_image("new.png"))
    x_half = pipe.blend(out, alpha=0.5)   # eq. (4): 1 = restoration, 0 = transported
"""

from ._version import __version__
from .calibration import MODES, Calibration, Calibrator, latent_patch_moments
from .calibration.files import load_calibration, save_calibration
from .colorfix import COLOR_FIXES, apply_color_fix
from .evaluation.dataset import DEFAULT_ALPHAS, Evaluation, evaluate_dataset, evaluate_image, pair_by_stem
from .evaluation.report import summarize, write_report
from .io.images import image_to_tensor, load_image, save_image, tensor_to_image
from .io.paths import collect_image_paths
from .latents.base import Encoder, EncoderUnavailableError, resolve_device
from .latents.cache import LatentCache
from .latents.diffusers_vae import DiffusersVAEEncoder
from .latents.pixel import PixelEncoder
from .latents.registry import KNOWN_VAES, WEIGHT_FREE, encoder_for, load_encoder
from .latents.taesd import TAESDEncoder
from .ot.gaussian_maps import (
    GaussianOperator,
    degenerate_transport_operator,
    empirical_moments,
    empirical_transport_operator,
    fit_operator,
    gelbrich_w2,
    transport_operator,
)
from .ot.moments import PatchMoments
from .ot.patches import fold_kernel, iter_valid_patches, transport_latent
from .ot.psd import sqrtm_psd
from .pipeline import DOTPipeline, Enhanced, TransportConfig, check_compatible, interpolate
from .quality.metrics import psnr, spectrum_distance, ssim, texture_distance
from .quality.perceptual import Perceptual, load_perceptual

__all__ = [
    "__version__", "MODES", "Calibration", "Calibrator", "latent_patch_moments", "load_calibration",
    "save_calibration", "COLOR_FIXES", "apply_color_fix", "DEFAULT_ALPHAS", "Evaluation",
    "evaluate_dataset", "evaluate_image", "pair_by_stem", "summarize", "write_report",
    "collect_image_paths", "image_to_tensor", "load_image", "save_image", "tensor_to_image",
    "Encoder", "EncoderUnavailableError", "resolve_device", "PixelEncoder", "LatentCache",
    "DiffusersVAEEncoder", "KNOWN_VAES", "WEIGHT_FREE", "encoder_for", "load_encoder",
    "TAESDEncoder", "GaussianOperator", "degenerate_transport_operator", "empirical_moments",
    "empirical_transport_operator", "fit_operator", "gelbrich_w2", "sqrtm_psd",
    "transport_operator", "PatchMoments", "fold_kernel", "iter_valid_patches", "transport_latent",
    "DOTPipeline", "Enhanced", "TransportConfig", "check_compatible", "interpolate", "psnr",
    "spectrum_distance", "ssim", "texture_distance", "Perceptual", "load_perceptual",
]
