"""Which latent space the page starts on, decided once per process without waiting on the network.

The paper's VAE when its weights are cached or the Hub answers; otherwise the weight-free
``detail`` latent, and the page says so and why.
"""

from __future__ import annotations

import dataclasses
import os

from dot_core import KNOWN_VAES, WEIGHT_FREE, DiffusersVAEEncoder, EncoderUnavailableError, load_encoder
from dot_core.latents.hub import hub_reachable

from .settings import PAPER_ENCODER, Settings

OFFLINE_ENCODER = "detail"  # weight-free, and the closest to a VAE's latent (band-pass detail)


@dataclasses.dataclass(frozen=True)
class Startup:
    """Which latent space the page starts on, and why."""

    encoder: str
    online: bool
    notice: str  # Markdown shown at the top of the page
    choices: list[tuple[str, str]]  # (label, name) for the latent-space dropdown


def go_offline() -> None:
    """Make later weight loads read the local cache only, instead of retrying the network."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True


def weights_cached(name: str) -> bool:
    """Whether the VAE ``name`` (a known name or a repo id) has its config in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    repo = KNOWN_VAES[name][0] if name in KNOWN_VAES else name
    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def probe_startup(settings: Settings) -> Startup:
    """Probe the Hub once and pick the latent space; ``settings.encoder`` overrides the paper's."""
    online = hub_reachable()
    if not online:
        go_offline()
    wanted = settings.encoder or PAPER_ENCODER
    reason = ""
    if wanted in WEIGHT_FREE or online or weights_cached(wanted):
        try:
            load_encoder(wanted)
            encoder = wanted
        except (EncoderUnavailableError, ValueError, ImportError) as exc:
            encoder, reason = OFFLINE_ENCODER, str(exc)
    else:
        encoder = OFFLINE_ENCODER
        reason = f"the Hugging Face Hub cannot be reached and the weights of '{wanted}' are not in the local cache"
    return Startup(encoder=encoder, online=online, notice=_notice(encoder, online, reason),
                   choices=_choices(online))


def _notice(encoder: str, online: bool, reason: str) -> str:
    if encoder == PAPER_ENCODER:
        return f"Running on the paper's latent space **{PAPER_ENCODER}** (Stable Diffusion VAE)."
    if not reason:
        return f"Running on the **{encoder}** latent space (chosen with `DOT_APP_ENCODER`)."
    return (
        f"**{'Fallback' if online else 'Offline mode'}:** running on the weight-free band-pass **detail** "
        f"latent, because {reason}. The paper's VAE (`{PAPER_ENCODER}`) is used when its weights can be "
        f"loaded (`hf download {KNOWN_VAES[PAPER_ENCODER][0]}`)."
    )


def _choices(online: bool) -> list[tuple[str, str]]:
    """(label, name) of every listed latent space, saying which need weights that are missing."""
    choices = []
    for name in ("detail", "pixel", *KNOWN_VAES):
        if name in WEIGHT_FREE:
            note = "weight-free"
        elif online or weights_cached(name):
            note = "the paper's VAE" if name == PAPER_ENCODER else "VAE"
        else:
            note = "weights unavailable offline"
        choices.append((f"{name} · {note}", name))
    return choices


def default_patch_size(encoder: str) -> int:
    """The latent space's own patch size, without loading VAE weights."""
    if encoder in WEIGHT_FREE:
        return load_encoder(encoder).default_patch_size
    return DiffusersVAEEncoder.default_patch_size
