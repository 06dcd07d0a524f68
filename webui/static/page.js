/* Run once when the page loads (read by webui/layout.py, passed to demo.launch as `js`).
 * An impatient double click on Calibrate or on an example starts its job once: a second click on the
 * same element within 800 ms is dropped before Gradio sees it (Gradio's trigger_mode="once" only
 * skips clicks that come after the first job has been submitted). */
() => {
  const GUARDED = '#dot-calibrate, #dot-examples .thumbnail-item';
  document.addEventListener('click', (ev) => {
    const el = ev.target instanceof Element ? ev.target.closest(GUARDED) : null;
    if (!el) return;
    const now = performance.now();
    if (now - (el.__dotClicked || -1e9) < 800) {
      ev.stopImmediatePropagation();
      ev.preventDefault();
    }
    el.__dotClicked = now;
  }, true);
}
