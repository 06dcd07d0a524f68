/* The α slider's release event (read by webui/layout.py, passed as the release event's `js`): drag
 * end, arrow-key up, Enter or Tab in the number box, ↺. Gradio's number box releases the value as
 * typed (5, −3, "-") before clamping it, so α is clamped to the slider's range here, before the server
 * sees it; a half-typed number sends the α on show. If the interpolated panel already shows the
 * server's PNG for this α (the same file: no load event will come), the live canvas hides now. */
(alpha) => {
  let a = Number(alpha);
  try {
    const range = document.querySelector('#dot-alpha input[type=range]');
    const shown = document.querySelector('#dot-interpolated .image-frame img');
    const m = shown && decodeURIComponent(shown.src).match(/_alpha([-+0-9.e]+)[.]png$/);
    if (alpha === null || alpha === '' || !Number.isFinite(a)) a = m ? Number(m[1]) : Number(range ? range.value : 1);
    if (range) a = Math.min(Number(range.max), Math.max(Number(range.min), a));
    const cv = document.querySelector('#dot-interpolated canvas.dot-live');
    if (cv && m && Math.abs(Number(m[1]) - a) < 1e-6) cv.style.display = 'none';
  } catch (e) { console.warn('DOT: α release check skipped', e); }
  return [a, null];
}
