/* After an action that shows a new x̂α (Calibrate, a calibration file, an upload; read by
 * webui/layout.py, run in the browser only, no request): if the visitor moved α while the action
 * ran, the interpolated panel shows the α the action started with; a release of the slider brings
 * the page to the α on the slider (one request, only then). */
(alpha, shown) => {
  try {
    const src = shown && (shown.url || shown.path || '');
    const m = src && decodeURIComponent(src).match(/_alpha([-+0-9.e]+)[.]png$/);
    const range = document.querySelector('#dot-alpha input[type=range]');
    if (m && range && Math.abs(Number(m[1]) - Number(alpha)) > 1e-6) {
      range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
    }
  } catch (e) { console.warn('DOT: settle skipped', e); }
  return [];
}
