"""The enhancement pipeline: encode → transport patches → fold → decode → interpolate.

docs/method.md: "Latents and patches", "Transport and fold", "Interpolation, eq. 4". The pipeline owns an encoder and a calibration; images cross its
boundary as float32 arrays (H, W, 3) in [0, 1].

Interpolation follows eq. (4) of Adrai et al. 2023:

.. math::
    \\hat x_\\alpha = \\alpha\\, x^* + (1 - \\alpha)\\, \\hat x_0

α = 1 gives back the restoration x*, α = 0 the fully transported x̂0; other values extrapolate.
An optional colour fix (:mod:`dot_core.colorfix`) is applied to the decoded x̂0 before eq. (4);
what was done is recorded in :attr:`DOTPipeline.provenance` and in every :class:`Enhanced`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._version import __version__
from .calibration import Calibration, latent_patch_moments
from .colorfix import (
    COLOR_FIXES,
    RESTORATION_LATTICE_BAND,
    apply_color_fix,
    remove_lattice,
    resolve_color_fix,
    resolve_lattice_fix,
)
from .degrid import degrid, degrid_period, transported_copy
from .io.images import tensor_to_image
from .latents.base import Encoder
from .latents.cache import LatentCache, encode_image
from .latents.memory import MIN_CHUNK_ELEMENTS, chunk_elements_for, retry_smaller
from .ot.moments import PatchMoments
from .ot.patches import FOLD_KERNELS, NOISE_MODELS, transport_latent

__all__ = ["ALPHA_MAX", "ALPHA_MIN", "TransportConfig", "Enhanced", "DOTPipeline", "check_alpha", "interpolate",
           "check_compatible"]


@dataclass(frozen=True)
class TransportConfig:
    """How patches are transported and folded back.

    Examples
    --------
    >>> from dot_core import TransportConfig
    >>> cfg = TransportConfig(fold_kernel="gaussian", seed=1)
    >>> cfg.fold_kernel, cfg.noise, cfg.color_fix
    ('gaussian', 'stationary', 'auto')
    >>> TransportConfig(noise="everywhere")
    Traceback (most recent call last):
    ...
    ValueError: noise must be one of ('stationary', 'local'), got 'everywhere'
    """

    # "uniform" (the paper's average) or "gaussian" weights for overlapping patches; None: the
    # encoder's own default (``Encoder.default_fold_kernel``: gaussian for ``detail``, else uniform)
    fold_kernel: str | None = None
    seed: int = 0  # noise seed of the stochastic operator (singular source, eq. 5)
    # how that noise is spread (dot_core.ot.patches.transport_latent): "stationary", eq. 5 as written (the
    # same grain everywhere), or "local", scaled by each patch's energy so flat regions stay flat. The
    # default stays the paper's: the tuning photographs prefer local, the reporting ones do not
    # (README "What a person sees"), so neither set alone should decide.
    noise: str = "stationary"
    max_chunk_elements: int | None = None  # bounds one patch chunk's memory; None: from the device
    # colour fix of x̂0 before eq. (4) (dot_core.colorfix): "none", "wavelet", "adain", or "auto":
    # the encoder's own default (``Encoder.default_color_fix``: wavelet for learned latents, else none)
    color_fix: str = "auto"
    # put x*'s content back on the decoder's f-pixel lattice frequencies (dot_core.colorfix.remove_lattice);
    # opt-in: with the tiled lattice measure it barely lowers taef2's grid (README "Colour that stays")
    lattice_fix: bool = False
    # when the calibration names the restorer's lattice and the latent is not on that grid (detail, pixel):
    # transport a copy x̃ of x* without its grid and build x̂0 on it, x̃ + Q(what the transport changed)
    # (dot_core.degrid, dot_core.degrid.degrid_period), so the restorer's grid does not grow
    degrid: bool = True

    def __post_init__(self) -> None:
        if self.fold_kernel is not None and self.fold_kernel not in FOLD_KERNELS:
            raise ValueError(f"fold_kernel must be one of {FOLD_KERNELS} or None, got {self.fold_kernel!r}")
        if self.color_fix != "auto" and self.color_fix not in COLOR_FIXES:
            raise ValueError(f"color_fix must be 'auto' or one of {COLOR_FIXES}, got {self.color_fix!r}")
        if not isinstance(self.lattice_fix, bool):
            raise ValueError(f"lattice_fix must be True or False, got {self.lattice_fix!r}")
        if not isinstance(self.degrid, bool):
            raise ValueError(f"degrid must be True or False, got {self.degrid!r}")
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {NOISE_MODELS}, got {self.noise!r}")


MAX_ABS_ALPHA = 1e6  # beyond this, α·x* overflows float32 for some inputs (inf − inf = NaN)
# the α a person may ask for (command line, the app's slider, its batch and MCP tools): eq. (4)
# from one step beyond the transported image (−1) to one beyond the restoration (2)
ALPHA_MIN, ALPHA_MAX = -1.0, 2.0


def check_alpha(alpha) -> float:
    """α as a float in [ALPHA_MIN, ALPHA_MAX], else a ``ValueError`` saying the range."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [{ALPHA_MIN:g}, {ALPHA_MAX:g}], got {alpha!r}") from None
    if not ALPHA_MIN <= a <= ALPHA_MAX:  # NaN fails too
        raise ValueError(f"alpha must lie in [{ALPHA_MIN:g}, {ALPHA_MAX:g}] (1 = the restoration, 0 = fully "
                         f"transported), got {alpha}")
    return a


def interpolate(x_star, x0, alpha: float):
    """Eq. (4): ``α·x* + (1 − α)·x̂0`` for arrays or tensors of one shape; no clipping.

    Examples
    --------
    >>> import numpy as np
    >>> from dot_core import interpolate
    >>> x_star, x0 = np.full(3, 0.2), np.full(3, 0.6)
    >>> interpolate(x_star, x0, 1.0).tolist(), interpolate(x_star, x0, 0.0).tolist()
    ([0.2, 0.2, 0.2], [0.6, 0.6, 0.6])
    >>> interpolate(x_star, x0, 0.5).round(3).tolist()
    [0.4, 0.4, 0.4]
    >>> interpolate(x_star, x0, -1.0).round(3).tolist()  # beyond x̂0, unclipped
    [1.0, 1.0, 1.0]
    """
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha}")
    if abs(alpha) > MAX_ABS_ALPHA:
        raise ValueError(
            f"alpha = {alpha:g} is too far from [0, 1]; use |alpha| ≤ {MAX_ABS_ALPHA:g} "
            "(1 = restoration, 0 = transported; the app's slider spans [-1, 2])"
        )
    if tuple(x_star.shape) != tuple(x0.shape):
        raise ValueError(f"cannot interpolate arrays of shapes {tuple(x_star.shape)} and {tuple(x0.shape)}")
    return alpha * x_star + (1.0 - alpha) * x0


def check_compatible(encoder: Encoder, calibration: Calibration, *, allow_other_name: bool = False) -> None:
    """Raise ``ValueError`` unless ``calibration`` was made in ``encoder``'s latent space.

    ``allow_other_name`` accepts an encoder with another name but the same architecture facts
    (e.g. a local copy of the same weights).

    Examples
    --------
    >>> import numpy as np
    >>> from dot_core import Calibrator, check_compatible, load_encoder
    >>> pixel, detail = load_encoder("pixel", device="cpu"), load_encoder("detail", device="cpu")
    >>> cal = Calibrator(pixel, patch_size=3)
    >>> image = np.random.default_rng(0).random((16, 16, 3))
    >>> cal.add_restored(image ** 2), cal.add_clean(image)
    (196, 196)
    >>> calibration = cal.fit()
    >>> check_compatible(pixel, calibration)  # silent: the same latent space
    >>> check_compatible(detail, calibration)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the calibration was made with encoder 'pixel' (C=3, ×1), patch size 3, but the ...
    """
    want = {"channels": calibration.channels, "factor": calibration.factor}
    have = {"channels": encoder.ot_channels, "factor": encoder.factor}
    if want != have or (calibration.encoder != encoder.name and not allow_other_name):
        raise ValueError(
            f"the calibration was made with encoder {calibration.encoder!r} "
            f"(C={want['channels']}, ×{want['factor']}), patch size {calibration.patch_size}, but the "
            f"current encoder is {encoder.name!r} (C={have['channels']}, ×{have['factor']}); "
            "calibrate again with this encoder or pick the calibration's encoder"
        )
    # settings of the same latent space (e.g. detail's σ) recorded by the calibration must agree too
    made = calibration.info.get("encoder_config") or {}
    now = encoder.describe()
    differ = sorted(k for k in made.keys() & now.keys() - {"encoder", "layout"} if made[k] != now[k])
    if differ:
        settings = ", ".join(f"{k} = {made[k]!r} (now {now[k]!r})" for k in differ)
        raise ValueError(
            f"the calibration was made in the {calibration.encoder!r} latent space with {settings}; "
            "these latents are not the same: calibrate again with this encoder"
        )


@dataclass
class Enhanced:
    """One enhanced image: the restoration, its transport, and both latents.

    Examples
    --------
    What :meth:`DOTPipeline.enhance` returns, here in the ``pixel`` latent (the image itself):

    >>> import numpy as np
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> enc = load_encoder("pixel", device="cpu")
    >>> image = np.random.default_rng(0).random((16, 16, 3))
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(image ** 2), cal.add_clean(image)
    (196, 196)
    >>> out = DOTPipeline(enc, cal.fit()).enhance(image ** 2)
    >>> out.original.shape, out.transported.shape, tuple(out.latent.shape)
    ((16, 16, 3), (16, 16, 3), (1, 3, 16, 16))
    >>> out.provenance["calibration"]["patch_size"]
    3
    """

    original: np.ndarray  # x*, (H, W, 3) float32 in [0, 1]
    transported: np.ndarray  # x̂0 = D(T(E(x*))), (H, W, 3) float32 in [0, 1]
    latent: torch.Tensor  # z* = E(x*), (1, C, h, w)
    latent_transported: torch.Tensor  # T(z*), (1, C, h, w)
    provenance: dict = field(default_factory=dict)  # how x̂0 was made (DOTPipeline.provenance)


class DOTPipeline:
    """Enhance restored images with a calibration in one encoder's latent space.

    Examples
    --------
    A calibration on one crop of a photograph (the clean set) and a blurred other crop (the
    restored set), then the enhancement of that restoration: its transport x̂0 has the clean
    crop's fine detail (mean absolute step between neighbouring pixels), and eq. (4) at α = 0.5
    lies between the two.

    >>> import numpy as np
    >>> from skimage import data
    >>> from dot_core import Calibrator, DOTPipeline, load_encoder
    >>> photo = data.astronaut()[100:164, 180:244] / 255.0  # (64, 64, 3) in [0, 1]
    >>> clean, restored = photo[:, :32], photo[:, 32:]
    >>> restored = (restored + np.roll(restored, 1, axis=1)) / 2  # a blur: what restorers leave
    >>> enc = load_encoder("pixel", device="cpu")
    >>> cal = Calibrator(enc, patch_size=3)
    >>> cal.add_restored(restored), cal.add_clean(clean)
    (1860, 1860)
    >>> pipe = DOTPipeline(enc, cal.fit())
    >>> out = pipe.enhance(restored)
    >>> def fine_detail(x):
    ...     return round(float(np.abs(np.diff(x, axis=1)).mean()), 3)
    >>> fine_detail(restored), fine_detail(out.transported), fine_detail(clean)
    (0.027, 0.036, 0.036)
    >>> fine_detail(pipe.blend(out, alpha=0.5))
    0.032
    """

    def __init__(
        self,
        encoder: Encoder,
        calibration: Calibration,
        *,
        config: TransportConfig = TransportConfig(),
        allow_other_encoder_name: bool = False,
        cache: LatentCache | None = None,
    ) -> None:
        check_compatible(encoder, calibration, allow_other_name=allow_other_encoder_name)
        self.encoder, self.calibration, self.config = encoder, calibration, config
        self.fold_kernel = config.fold_kernel or encoder.default_fold_kernel
        self.color_fix = resolve_color_fix(config.color_fix, encoder)  # "auto" resolved here, once
        self.lattice_period = resolve_lattice_fix(config.lattice_fix, encoder)  # None: no lattice fix
        self.degrid_period = degrid_period(config.degrid, encoder, calibration.restoration_lattice)
        self.cache = cache  # an image enhanced again (or under another calibration) is not re-encoded

    @property
    def provenance(self) -> dict:
        """What every output of this pipeline depends on (JSON-serialisable), for PNG metadata."""
        cal = self.calibration
        return {
            "software": f"dot_core {__version__}",
            "method": "Adrai et al. 2023, eq. 2 (latent patch OT) and eq. 4 (interpolation)",
            "encoder": self.encoder.describe(),
            "calibration": {"encoder": cal.encoder, "patch_size": cal.patch_size, "mode": cal.mode,
                            "method": cal.method, "eps": cal.eps},
            "fold_kernel": self.fold_kernel,
            "color_fix": self.color_fix,
            "lattice_fix": self.lattice_period,
            "restoration_lattice": cal.restoration_lattice,
            "degrid": self.degrid_period,
            "noise": self.config.noise,
            "seed": self.config.seed,
        }

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> torch.Tensor:
        """x (H, W, 3) in [0, 1] → z (1, C, h, w)."""
        return encode_image(self.encoder, image, self.cache)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        """z (1, C, h, w) → image (H, W, 3) in [0, 1] with (H, W) = ``size``."""
        return tensor_to_image(self.encoder.decode(z, size))

    @torch.inference_mode()
    def transport(self, z: torch.Tensor) -> torch.Tensor:
        """Transport the latent's patches (docs/method.md "Transport and fold"); side channels pass through."""
        cal = self.calibration
        if not torch.isfinite(z).all():
            raise ValueError(
                f"the {self.encoder.name} latent of this image contains NaN or Inf "
                "(a reduced-precision VAE can overflow): use dtype float32"
            )
        C = self.encoder.ot_channels
        zt = z[:, :C]
        op = cal.operator
        if op is None:  # zero-shot: source moments from this very image
            source = PatchMoments(cal.dim)
            latent_patch_moments(zt, cal.patch_size, source)
            op = cal.operator_for(source)
        out = self._transport_chunked(zt, op)
        if not torch.isfinite(out).all():  # an ill-conditioned operator; never decode NaN
            raise ValueError(
                "transporting this image gave NaN or Inf: the calibration's covariances are too "
                "ill-conditioned; calibrate with more or larger images or a smaller patch size"
            )
        return torch.cat([out, z[:, C:]], dim=1) if z.shape[1] > C else out

    def _transport_chunked(self, zt: torch.Tensor, op) -> torch.Tensor:
        """``transport_latent`` in chunks sized for the device; on out-of-memory, smaller chunks."""
        cal, cfg = self.calibration, self.config

        def run(chunk: int) -> torch.Tensor:
            return transport_latent(zt, op, cal.patch_size, kernel=self.fold_kernel, seed=cfg.seed, noise=cfg.noise,
                                    max_chunk_elements=chunk)

        def smaller(chunk: int) -> int:
            if chunk <= MIN_CHUNK_ELEMENTS:
                raise MemoryError(
                    f"out of memory transporting a latent of shape {tuple(zt.shape)} on {zt.device} even "
                    f"in chunks of {chunk} entries; use a smaller image or a smaller patch size"
                )
            return max(MIN_CHUNK_ELEMENTS, chunk // 4)

        return retry_smaller(run, cfg.max_chunk_elements or chunk_elements_for(zt.device), shrink=smaller, device=zt.device)

    def fix(self, decoded: np.ndarray, x_star: np.ndarray) -> np.ndarray:
        """The pipeline's colour fix, then its lattice fixes, of a decoded image; in [0, 1].

        The restorer's lattice (the calibration's ``restoration_lattice``) keeps x*'s content in a
        band around those frequencies; the decoder's (``lattice_fix``) on its exact bins.
        """
        return self._keep_lattices(apply_color_fix(self.color_fix, decoded, x_star), x_star)

    def _keep_lattices(self, out: np.ndarray, x_star: np.ndarray) -> np.ndarray:
        restorer = self.calibration.restoration_lattice
        if restorer is not None:
            out = np.clip(remove_lattice(out, x_star, restorer, band=RESTORATION_LATTICE_BAND), 0.0, 1.0)
        if self.lattice_period is not None:
            out = np.clip(remove_lattice(out, x_star, self.lattice_period), 0.0, 1.0)
        return out

    def transport_source(self, x_star: np.ndarray) -> np.ndarray:
        """What the transport works on: x*, or x̃ = degrid(x*) when the pipeline degrids (dot_core.degrid).

        An image narrower than two of the restorer's cells has no grid to speak of: x* itself."""
        p = self.degrid_period
        return x_star if p is None or min(x_star.shape[:2]) < 2 * p else degrid(x_star, p)

    def _finish(self, decoded: np.ndarray, x_star: np.ndarray, source: np.ndarray, alpha: float = 0.0) -> np.ndarray:
        """x̂0 from the decoded transport of ``source``: its fixes, then, for x̃, x̃ + Q(x̃0 − x̃) (dot_core.degrid).

        ``alpha``: the latent blend's α; the change is then added to α·x* + (1 − α)·x̃, so that x*'s
        grid comes back in proportion to α as in the pixel blend (and α = 1 gives x* itself)."""
        out = self.fix(decoded, source)
        if source is x_star:
            return out
        base = None if alpha == 0.0 else interpolate(x_star, source, alpha)
        return self._keep_lattices(transported_copy(source, out, self.degrid_period, base=base), x_star)

    @torch.inference_mode()
    def enhance(self, image: np.ndarray) -> Enhanced:
        """Compute x̂0 (after the pipeline's colour fix) for one restored image (H, W, 3) in [0, 1]."""
        x_star = np.asarray(image, dtype=np.float32)
        source = self.transport_source(x_star)
        z = self.encode(source)
        z0 = self.transport(z)
        x0 = self._finish(self.decode(z0, image.shape[:2]), x_star, source)
        return Enhanced(original=x_star, transported=x0, latent=z, latent_transported=z0, provenance=self.provenance)

    @torch.inference_mode()
    def blend(self, enhanced: Enhanced, alpha: float, *, space: str = "pixel") -> np.ndarray:
        """x̂α of eq. (4), clipped to [0, 1].

        ``space="pixel"`` (default) mixes the images and costs no encoder call; ``"latent"``
        mixes the latents and decodes: ``D(α z* + (1 − α) T(z*))``, colour-fixed like x̂0 (z* the
        latent of what was transported: x̃ when the pipeline degrids, whose change is then added to
        α·x* + (1 − α)·x̃: dot_core.degrid).
        """
        if space == "pixel":
            return np.clip(interpolate(enhanced.original, enhanced.transported, alpha), 0.0, 1.0)
        if space == "latent":
            z = interpolate(enhanced.latent, enhanced.latent_transported, alpha)
            x_star = enhanced.original
            return self._finish(self.decode(z, x_star.shape[:2]), x_star, self.transport_source(x_star), alpha)
        raise ValueError(f"space must be 'pixel' or 'latent', got {space!r}")

    @torch.inference_mode()
    def roundtrip(self, image: np.ndarray) -> np.ndarray:
        """D(E(x)) with nothing transported: what the latent space alone costs."""
        return self.decode(self.encode(image), image.shape[:2])
