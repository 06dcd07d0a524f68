/* Run once when the page loads (read by webui/layout.py, passed to demo.launch as `js`).
 *
 * An impatient double click on Calibrate, on "Enhance all" or on an example starts its job once: a second click on the
 * same element within 800 ms is dropped before Gradio sees it (Gradio's trigger_mode="once" only
 * skips clicks that come after the first job has been submitted). */
() => {
  const GUARDED = '#dot-calibrate, #dot-batch-run, #dot-examples .thumbnail-item';
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

  /* The α box commits (Enter, Tab, leaving it) one α the slider can show: a half-typed number ("", "-",
   * "--1") is put back to the α on show, any other is clamped to the range and rounded to the slider's
   * step (0.333 → 0.35), so the thumb, the box, the live canvas and the server all show one α. Runs in
   * the capture phase, before Gradio's own handlers read the box. */
  const commitAlpha = (ev) => {
    const box = ev.target instanceof Element ? ev.target.closest('#dot-alpha input[type=number]') : null;
    if (!box || (ev.type === 'keydown' && ev.key !== 'Enter' && ev.key !== 'Tab')) return;
    const range = document.querySelector('#dot-alpha input[type=range]');
    if (!range) return;
    const lo = Number(range.min), hi = Number(range.max), step = Number(range.step) || 0.05;
    let a = box.value.trim() === '' ? NaN : Number(box.value);
    if (!Number.isFinite(a)) {  // the α on show: the server's image for it is in the interpolated panel
      const img = document.querySelector('#dot-interpolated .image-frame img');
      const m = img && decodeURIComponent(img.src).match(/_alpha([-+0-9.e]+)[.]png$/);
      a = m ? Number(m[1]) : (window.__dotAlphaShown ?? Number(range.value));
    }
    a = Math.min(hi, Math.max(lo, a));
    a = Number((lo + Math.round((a - lo) / step) * step).toFixed(6));
    if (box.value !== String(a)) {
      box.value = String(a);
      box.dispatchEvent(new Event('input', {bubbles: true}));
    }
  };
  document.addEventListener('keydown', commitAlpha, true);
  document.addEventListener('blur', commitAlpha, true);
}
