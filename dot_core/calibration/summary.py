"""A calibration described for people: what the summary in the CLI and the app says.

Besides the settings and counts it says how far the transport gets on the restored set
(:func:`~dot_core.calibration.reach.calibration_reach`), how far the two sets differ in content
(:mod:`~dot_core.calibration.content`) and warns when an unpaired result will be unreliable.
"""

from __future__ import annotations

from .checks import count
from .reach import calibration_reach

__all__ = ["describe"]


def _content_lines(cal) -> list[str]:
    """The content readout: how far the sets differ, what was corrected, and a warning when
    an unpaired result will be unreliable."""
    diff = cal.content
    if diff is None or cal.mode == "zero-shot":
        return []
    lines = [f"content (energy of the band the restorer keeps): clean set {diff.energy_ratio:.2g}× the restored "
             f"set's (geometric mean), {100 * diff.overlap:.0f} % overlap"]
    if cal.mode == "unpaired" and cal.match_content and diff.beta is not None:
        lines.append(f"clean covariance moved to the restored set's content: × {diff.kappa:.3g} "
                     f"(spectral slope β = {diff.beta:.2f})")
    if cal.mode == "unpaired" and not diff.reliable:
        lines.append("warning: the two sets differ in content, so this unpaired calibration measures the scenes "
                     "as much as the restorer: calibrate in paired mode (your restorations and their originals), "
                     "or use clean photos of the same kind of scenes")
    return lines


def describe(cal) -> str:
    """A few lines for people: the settings, W2, sample counts, the restorer's grid, the reach,
    the content readout and the warnings of calibration ``cal``."""
    sigma = (cal.info.get("encoder_config") or {}).get("sigma")  # detail's split, a preset may choose its own
    settings = f" (sigma = {sigma})" if sigma is not None else ""
    lines = [f"latent space {cal.encoder}{settings}, patch {cal.patch_size}×{cal.patch_size} (d = {cal.dim}), "
             f"{cal.mode}"]
    if cal.info.get("mode_reason"):
        lines.append(f"mode {cal.mode}: {cal.info['mode_reason']}")
    if cal.w2 is not None:
        lines.append(f"latent W2 (Gelbrich, not squared) restored→clean: {cal.w2:.4g}")
    if cal.info.get("pair_psnr_db") is not None:
        pairs = count(cal.info.get("n_restored_images", 0), "pair")
        lines.append(f"restorer's PSNR on its {pairs}: {cal.info['pair_psnr_db']:.2f} dB")  # of their mean squared error
    src = "from each image" if cal.source is None else f"{cal.source.n:,} patches"
    lines.append(
        f"restored: {count(cal.info.get('n_restored_images', 0), 'image')}, {src}; "
        f"clean: {count(cal.info.get('n_clean_images', 0), 'image')}, {cal.target.n:,} patches"
    )
    if cal.restoration_lattice:
        p = cal.restoration_lattice
        how = (f", found in the restored set ({cal.info.get('restoration_lattice_search')})"
               if cal.info.get("restoration_lattice_origin") == "found" else ", given")
        lines.append(f"restorer's lattice: {p} px{how}")  # x*'s content kept there (docs/method.md)
    elif cal.info.get("restoration_lattice_search"):
        lines.append(f"restorer's lattice: none found in the restored set ({cal.info['restoration_lattice_search']})")
    if cal.operator is not None:
        lines.append(calibration_reach(cal.source, cal.fitted_target, cal.operator).describe(
            "the restored set, before the fold"))
    lines += _content_lines(cal)
    if cal.operator is not None and cal.operator.stochastic:
        lines.append("source covariance singular or near-degenerate in some directions: those are "
                     "synthesised by the stochastic operator (eq. 5)")
    lines += [f"warning: {w}" for w in cal.info.get("warnings", [])]
    return "\n".join(lines)
