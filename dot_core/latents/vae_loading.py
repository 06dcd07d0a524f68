"""Loading a diffusers VAE (AutoencoderKL or AutoencoderTiny) from a folder or the Hub.

Every failure is an :class:`~dot_core.latents.base.EncoderUnavailableError` whose message names
the latent space and how to provide its weights. When the Hub is known to be unreachable
(:func:`~dot_core.latents.hub.hub_reachable`) only the local cache is tried.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from .base import EncoderUnavailableError
from .hub import hub_offline, hub_reachable

__all__ = ["load_vae_folder", "load_vae_hub"]


def _class_from_config(config: dict, where: str) -> str:
    cls = config.get("_class_name")
    if cls not in ("AutoencoderKL", "AutoencoderTiny"):
        raise EncoderUnavailableError(
            f"{where} holds a {cls or 'model without _class_name'}, not a diffusers AutoencoderKL "
            "or AutoencoderTiny; point --encoder at a folder saved with save_pretrained() of one, "
            "or at a TAESD-family folder (*_encoder.safetensors + *_decoder.safetensors)"
        )
    return cls


def _hub_hint(name: str, repo: str, why: str) -> str:
    return (
        f"cannot load the '{name}' latent space ({repo}): its weights are neither in a local "
        f"folder nor in the Hugging Face cache, and {why}. Download them "
        f"where the Hub is reachable (`hf download {repo}`), pass a local folder saved with "
        "save_pretrained() or a TAESD-family folder (*_encoder.* + *_decoder.*), or use a "
        "weight-free latent space ('detail' or 'pixel')."
    )


def load_vae_folder(path: Path, dtype: torch.dtype) -> torch.nn.Module:
    """The diffusers VAE saved in folder ``path`` (``config.json`` names its class)."""
    from diffusers import AutoencoderKL, AutoencoderTiny  # imported late: heavy

    cfg_file = path / "config.json"
    try:
        config = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise EncoderUnavailableError(f"{cfg_file} is not valid JSON: {exc}") from exc
    cls = {"AutoencoderKL": AutoencoderKL, "AutoencoderTiny": AutoencoderTiny}[_class_from_config(config, str(path))]
    try:
        return cls.from_pretrained(path, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        raise EncoderUnavailableError(f"cannot load the VAE in {path}: {exc}") from exc


def load_vae_hub(name: str, repo: str, cls_name: str | None, dtype: torch.dtype) -> torch.nn.Module:
    """The VAE ``repo`` from the Hub, or only from the local cache when the Hub is known to be unreachable."""
    from diffusers import AutoencoderKL, AutoencoderTiny  # imported late: heavy

    classes = {"AutoencoderKL": AutoencoderKL, "AutoencoderTiny": AutoencoderTiny}
    online = hub_reachable()
    why = "the Hub could not be reached" if online else (
        "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub did not answer a quick probe")
    try:
        with warnings.catch_warnings():
            # diffusers passes an argument huggingface_hub has deprecated; the warning would
            # stand before our own one-line error in the CLI and says nothing to a user.
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            if cls_name is None:
                from huggingface_hub import hf_hub_download

                with open(hf_hub_download(repo, "config.json", local_files_only=not online)) as fh:
                    cls_name = _class_from_config(json.load(fh), repo)
            return classes[cls_name].from_pretrained(repo, torch_dtype=dtype, local_files_only=not online)
    except EncoderUnavailableError:
        raise
    except Exception as exc:  # network errors come in many types (OSError, HTTP, offline mode)
        raise EncoderUnavailableError(_hub_hint(name, repo, why) + f" [{type(exc).__name__}]") from exc
