"""Gradio app: few-shot perceptual enhancement of restored images by latent optimal transport.

UI only: every computation is a call into ``dot_core`` (Adrai, Ohayon, Elad & Michaeli, "Deep
Optimal Transport: A Practical Algorithm for Photo-realistic Image Restoration", NeurIPS 2023).

1. Calibrate on a few restored and a few clean images (or a preset, or a calibration file).
2. Enhance a new restored image x*: the transported x̂0 is computed once per upload and kept in
   session state; the α slider then only mixes pixels (eq. 4, x̂α = α·x* + (1 − α)·x̂0), in the
   browser while dragging and on the server for the image you download.
3. With the ground truth, PSNR/SSIM at α and a perception–distortion curve over α ∈ [−1, 2].

Named API endpoints (gradio_client): ``/calibrate(restored, clean, encoder, patch_size, ...)``,
``/enhance(image, ...)``, ``/blend(alpha)``, ``/enhance_batch(files, alphas)``, ``/roundtrip(show)``;
see README. Agents: MCP at ``/gradio_api/mcp/`` (tools ``dot_calibrate``, ``dot_enhance``,
``dot_blend``, which need no session; ``DOT_APP_MCP_SERVER=0`` turns it off). ``python app.py`` honours
GRADIO_SERVER_NAME and GRADIO_SERVER_PORT, and starts offline on a weight-free latent space.

This file reads the settings, probes the start-up latent space, creates the shared services (the
image store and the admission gate) and builds the page; the page itself lives in ``webui/``.
"""

from __future__ import annotations

from webui.layout import build_demo, launch_options
from webui.services import Services
from webui.settings import Settings
from webui.startup import probe_startup

SETTINGS = Settings.from_env()  # DOT_APP_* environment variables, read once
STARTUP = probe_startup(SETTINGS)  # which latent space the page starts on, and why
SERVICES = Services.create(SETTINGS)  # one image store and one admission gate for every session
demo = build_demo(STARTUP, SERVICES)

if __name__ == "__main__":
    # The page says which latent space runs and why; say it on the console too.
    print("DOT app:", STARTUP.notice.replace("**", "").replace("`", ""), flush=True)
    demo.launch(**launch_options(SETTINGS), mcp_server=SETTINGS.mcp_server)  # MCP tools at /gradio_api/mcp/
