"""The app's settings, read once from the environment, and the page's fixed constants."""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

from dot_core import COLOR_FIXES, MODES
from dot_core.ot.patches import FOLD_KERNELS, NOISE_MODELS  # not exported at the top level of dot_core
from dot_core.pipeline import ALPHA_MAX, ALPHA_MIN  # noqa: F401  one α range for the CLI, page, batch and MCP

ALPHA_STEP = 0.05  # eq. (4): 1 = restoration, 0 = transported
DEFAULT_ALPHA = 0.5
PATCH_SIZE_MIN, PATCH_SIZE_MAX = 1, 16  # the page's patch sizes p (latent pixels; d = C·p²)
# P-D curve points: those in [0, 1] are cheap (dot_core.quality.pd_curve), each outside costs a pyramid
CURVE_ALPHAS = (-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
PAPER_ENCODER = "sd-vae-ft-mse"
FOLD_AUTO = "auto"  # the latent space's own fold kernel (Encoder.default_fold_kernel)
FOLD_CHOICES = (FOLD_AUTO, *FOLD_KERNELS)
COLOR_FIX_AUTO = "auto"  # the latent space's own colour fix (Encoder.default_color_fix)
COLOR_FIX_CHOICES = (COLOR_FIX_AUTO, *COLOR_FIXES)
# the restorer's lattice period (Calibration.restoration_lattice): auto, found in the restored
# uploads (dot_core.calibration.restorer_grid); none; or a ×p upscaler's p the visitor declares (8: JPEG blocks)
LATTICE_AUTO = "auto"
LATTICE_NONE = "none"
RESTORATION_LATTICE_CHOICES = (LATTICE_AUTO, LATTICE_NONE, "2", "3", "4", "8")
# calibration modes on the page: auto pairs restored and clean uploads by file name when every
# restoration has its original (dot_core.calibration.pairing.choose_mode), else unpaired
MODE_AUTO = "auto"
MODE_CHOICES = (MODE_AUTO, *MODES)
# how eq. 5's synthesised noise is spread (TransportConfig.noise): the paper's, or by local detail
NOISE_DEFAULT = "stationary"
NOISE_CHOICES = NOISE_MODELS
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What an operator may change (environment variables ``DOT_APP_*``); defaults for a Space."""

    max_pixels: int = 2048 * 2048  # per uploaded image (DOT_APP_MAX_PIXELS)
    max_file_size: str = "50mb"  # per upload, checked by Gradio (DOT_APP_MAX_FILE_SIZE)
    session_ttl: int = 2 * 3600  # seconds a session's calibration and images are kept
    # RAM for all sessions' kept images together (x*, x̂0, ground truth; 6 bytes per pixel each);
    # beyond it the least recently used go to their session's folder on disk (DOT_APP_IMAGE_MEMORY_MB)
    image_memory: int = 2048 * 2**20
    max_jobs_per_session: int = 2  # heavy jobs waiting or running per session (DOT_APP_MAX_JOBS_PER_SESSION)
    max_jobs_per_client: int = 4  # ... per network address (DOT_APP_MAX_JOBS_PER_CLIENT)
    # Behind a proxy (a Space) every request comes from the proxy's address: the visitor's address is the
    # first X-Forwarded-For entry. Elsewhere that header is the sender's word (DOT_APP_TRUST_FORWARDED)
    trust_forwarded: bool = False
    keep_blends: int = 16  # α images kept per upload (a dragged slider writes one per step)
    max_calibration_images: int = 100  # per set and call (DOT_APP_MAX_CALIBRATION_IMAGES)
    # all of one call's calibration images are held in memory (float32 RGB: 12 bytes per pixel) until
    # the fit (DOT_APP_MAX_CALIBRATION_PIXELS, default 16 × max_pixels)
    max_calibration_pixels: int = 16 * 2048 * 2048
    # Repo ids and local folders as latent spaces: refused on a public Space (SPACE_ID set) unless
    # DOT_APP_CUSTOM_ENCODERS=1, so that a stranger cannot make the server download or load any model
    custom_encoders: bool = True
    encoder: str = ""  # the latent space to start on instead of the paper's (DOT_APP_ENCODER)
    max_batch_images: int = 50  # images per batch enhancement (DOT_APP_MAX_BATCH_IMAGES)
    mcp_server: bool = True  # serve the MCP tools at /gradio_api/mcp/ (DOT_APP_MCP_SERVER=0: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        """Settings from ``DOT_APP_*`` variables; on a Space (``SPACE_ID``) the safer defaults."""
        space = bool(env.get("SPACE_ID"))
        max_pixels = int(env.get("DOT_APP_MAX_PIXELS", cls.max_pixels))
        return cls(
            max_pixels=max_pixels,
            max_file_size=env.get("DOT_APP_MAX_FILE_SIZE", cls.max_file_size),
            image_memory=int(float(env.get("DOT_APP_IMAGE_MEMORY_MB", 2048)) * 2**20),
            max_jobs_per_session=int(env.get("DOT_APP_MAX_JOBS_PER_SESSION", cls.max_jobs_per_session)),
            max_jobs_per_client=int(env.get("DOT_APP_MAX_JOBS_PER_CLIENT", cls.max_jobs_per_client)),
            trust_forwarded=env.get("DOT_APP_TRUST_FORWARDED", "1" if space else "0") == "1",
            max_calibration_images=int(env.get("DOT_APP_MAX_CALIBRATION_IMAGES", cls.max_calibration_images)),
            max_calibration_pixels=int(env.get("DOT_APP_MAX_CALIBRATION_PIXELS", 16 * max_pixels)),
            custom_encoders=env.get("DOT_APP_CUSTOM_ENCODERS", "0" if space else "1") == "1",
            encoder=env.get("DOT_APP_ENCODER", "").strip(),
            max_batch_images=int(env.get("DOT_APP_MAX_BATCH_IMAGES", cls.max_batch_images)),
            mcp_server=env.get("DOT_APP_MCP_SERVER", "1") == "1",
        )
