"""Components of the page that Gradio does not have as such (a slider typed as an integer)."""

from __future__ import annotations

import gradio as gr


class IntegerSlider(gr.Slider):
    """A slider of whole numbers whose value reaches the handler as sent.

    Typed ``integer`` in the API (``view_api``). Gradio's own slider checks its range while it
    preprocesses, which for an event with a validator (every heavy job) answers a bare HTTP 400;
    here the handler checks the value and says what is wrong (:func:`whole_number`).
    """

    is_template = True  # drawn by Gradio's own slider

    def preprocess(self, payload: float | None) -> float | None:
        return payload

    def api_info(self) -> dict:
        return {"type": "integer", "description": f"whole number between {self.minimum:g} and {self.maximum:g}"}
