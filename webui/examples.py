"""One-click examples: a preset's calibration, then its bundled restored photo and ground truth."""

from __future__ import annotations

import dataclasses
from types import ModuleType

import gradio as gr

from .calibrate import CalibrationHandlers, summary_with_image
from .enhance import EnhanceHandlers
from .errors import fail
from .ground_truth import GroundTruthHandlers
from .settings import DEFAULT_ALPHA


def preset_choices(presets: ModuleType) -> list[tuple[str, str]]:
    """(title, name) of every preset, for the dropdown."""
    return [(p.title, p.name) for p in presets.list_presets()]


def example_items(presets: ModuleType) -> list[tuple[str, str, str, str]]:
    """(preset, restored, clean, caption): one bundled example per preset, photos taking turns."""
    items = []
    for i, p in enumerate(q for q in presets.list_presets() if q.examples):
        restored, clean = p.examples[i % len(p.examples)]
        items.append((p.name, str(restored), str(clean), p.title))
    return items


@dataclasses.dataclass(frozen=True)
class ExampleHandlers:
    """Runs an example through the same handlers as the page's three sections."""

    calibration: CalibrationHandlers
    enhance: EnhanceHandlers
    ground_truth: GroundTruthHandlers

    def items(self) -> list[tuple[str, str, str, str]]:
        return example_items(self.calibration.presets)

    def run(self, index: int, encoder: str, fold_kernel: str, color_fix: str, noise: str, cal_state, img_state,
            progress=gr.Progress()):
        """One click: the preset's calibration, then its example image and ground truth.

        Returns 18 values (``webui.actions.PageActions.example`` sets the page with them). The visitor's own
        calibration files are cleared (the preset is what the picker shows and what Calibrate uses
        next), and a calibration of theirs that the example replaces is said to be replaced.
        """
        items = self.items()
        if not 0 <= index < len(items):
            raise fail(f"No example number {index}.")
        preset, restored, clean, _ = items[index]
        replaced = cal_state.source if cal_state is not None and cal_state.source != f"preset {preset}" else None
        ready = self.calibration.presets.get_preset(preset).encoders  # latent spaces with a shipped calibration
        encoder = encoder if encoder in ready or not ready else ready[0]
        summary, cal_state, _ = self.calibration.calibrate(None, None, encoder, 0, "unpaired", fold_kernel, preset,
                                                           color_fix, noise=noise, cal_state=cal_state,
                                                           img_state=None, progress=progress)
        original, transported, interpolated, img_state = self.enhance.enhance(restored, DEFAULT_ALPHA, cal_state,
                                                                              img_state)
        text, fig, img_state = self.ground_truth.compare_ground_truth(clean, DEFAULT_ALPHA, img_state, progress)
        summary = summary_with_image(cal_state, img_state)  # with how far the transport got on the example
        cal = cal_state.pipeline.calibration
        download = gr.File(cal_state.file, visible=True)  # hidden until there is a calibration
        if replaced:
            gr.Info(f"The example's preset ({preset}) replaces your calibration ({replaced}); your calibration "
                    "files were cleared: add them again and press Calibrate to go back to it.")
        return (summary, cal_state, download, cal.encoder, cal.patch_size, preset, None, None, restored, clean,
                DEFAULT_ALPHA, original, transported, interpolated, (original, interpolated), text, fig, img_state)
