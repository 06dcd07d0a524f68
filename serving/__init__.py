"""What a public app needs beyond the math: fair admission to the heavy queue
(:mod:`serving.admission`) and bounded memory for the images sessions keep
(:mod:`serving.image_store`). No Gradio here; ``webui/`` wires both (``webui/services.py``, ``webui/queueing.py``)."""
