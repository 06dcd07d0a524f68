/* The α slider's in-browser blend (read by webui/layout.py, passed as the slider's input event `js`).
 * Runs on every α input event, before the server's /blend: paints x̂α = x̂0 + α·(x* − x̂0) (eq. 4)
 * from the two PNGs already on the page onto a canvas laid over the interpolated panel (a few ms for
 * 1 MP). The canvas hides again once the server's PNG for the slider's current α has loaded (its file
 * name ends in _alpha<α>.png), so downloads, the fullscreen view and API users always get the
 * server's image. Sends (and paints) α clamped to the slider's range; half-typed numbers send the α on
 * show. */
(alpha) => {
  let a = Number(alpha);
  try {
    const q = (s) => document.querySelector(s);
    const S = window.__dotBlend || (window.__dotBlend = {alpha: null, painted: 0, key: null});
    const range = q('#dot-alpha input[type=range]'), box = q('#dot-alpha input[type=number]');
    if (range && !range.dataset.dotKeys) {  // arrow keys move α too: let their keyup count as a release
      range.dataset.dotKeys = '1';
      range.addEventListener('keyup', () => range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true})));
    }
    if (box && !box.dataset.dotKeys) {  // the number box: Enter commits like Tab (blur: release, then clamp)
      box.dataset.dotKeys = '1';
      box.addEventListener('keyup', (ev) => {
        if (ev.key === 'Enter') box.blur();
        else if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') box.dispatchEvent(new PointerEvent('pointerup'));
      });
    }
    // α as typed may be half a number ("-") or out of range (5): never paint or send that
    const now = q('#dot-interpolated .image-frame img');
    const m = now && decodeURIComponent(now.src).match(/_alpha([-+0-9.e]+)[.]png$/);
    const typed = alpha !== null && alpha !== '' && Number.isFinite(a);
    if (!typed) a = m ? Number(m[1]) : Number(range ? range.value : 1);
    if (range) a = Math.min(Number(range.max), Math.max(Number(range.min), a));
    if (!typed) return [a, null];
    const o = q('#dot-original .image-frame img'), t = q('#dot-transported .image-frame img');
    const frame = q('#dot-interpolated .image-frame');
    const shown = frame && frame.querySelector('img');
    if (!o || !t || !shown) return [a, null];
    const key = o.src + '|' + t.src;
    if (S.key !== key) {  // new upload or calibration: read both images' pixels once
      S.key = key; S.ready = false;
      const load = (src) => { const im = new Image(); im.src = src; return im.decode().then(() => im); };
      Promise.all([load(o.src), load(t.src)]).then(([io, it]) => {
        if (S.key !== key || io.naturalWidth !== it.naturalWidth || io.naturalHeight !== it.naturalHeight) return;
        const w = io.naturalWidth, h = io.naturalHeight, c = document.createElement('canvas');
        c.width = w; c.height = h;
        const g = c.getContext('2d', {willReadFrequently: true});
        g.drawImage(io, 0, 0); const xs = g.getImageData(0, 0, w, h).data;
        g.clearRect(0, 0, w, h); g.drawImage(it, 0, 0); const x0 = g.getImageData(0, 0, w, h).data;
        const d = new Float32Array(xs.length);
        for (let i = 0; i < xs.length; i++) d[i] = xs[i] - x0[i];
        Object.assign(S, {x0: x0, d: d, out: new ImageData(w, h), ready: true});
      }).catch((e) => console.warn('DOT: in-browser blend unavailable', e));
      return [a, null];
    }
    if (!S.ready) return [a, null];
    let cv = frame.querySelector('canvas.dot-live');
    if (!cv) {
      cv = document.createElement('canvas'); cv.className = 'dot-live';
      frame.style.position = 'relative'; frame.appendChild(cv);
      frame.addEventListener('load', (ev) => {  // the server's PNG arrived: show it if current
        if (ev.target.tagName !== 'IMG') return;
        const m = decodeURIComponent(ev.target.src).match(/_alpha([-+0-9.e]+)[.]png$/);
        const r = q('#dot-alpha input[type=range]'), now = r ? Number(r.value) : NaN;
        if ((m && Math.abs(Number(m[1]) - now) < 1e-6) || Math.abs(S.alpha - now) > 1e-6) cv.style.display = 'none';
      }, true);
    }
    const w = S.out.width, h = S.out.height;
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    Object.assign(cv.style, {position: 'absolute', display: 'block', pointerEvents: 'none',
      left: shown.offsetLeft + 'px', top: shown.offsetTop + 'px', width: shown.offsetWidth + 'px',
      height: shown.offsetHeight + 'px', objectFit: getComputedStyle(shown).objectFit});
    const x0 = S.x0, d = S.d, out = S.out.data;
    for (let i = 0; i < out.length; i += 4) {  // Uint8ClampedArray rounds and clips like the server
      out[i] = x0[i] + a * d[i]; out[i + 1] = x0[i + 1] + a * d[i + 1];
      out[i + 2] = x0[i + 2] + a * d[i + 2]; out[i + 3] = 255;
    }
    cv.getContext('2d').putImageData(S.out, 0, 0);
    S.alpha = a; S.painted = performance.now();
  } catch (e) { console.warn('DOT: in-browser blend skipped', e); }
  return [a, null];
}
