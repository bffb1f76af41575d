// Live "time left" on the list page: every element with data-ends-at (an RFC 3339 time) shows
// the time left until then, updated every second. If the element has a child with the class
// "time-left", only that child's text changes; otherwise the element's own text does (so put
// data-ends-at on a small element such as <time>). Loaded as a classic deferred script.
(function () {
  'use strict';

  const nodes = Array.from(document.querySelectorAll('[data-ends-at]'));
  if (nodes.length === 0) return;

  // The page may carry the server's clock (data-server-time on <html>, <body> or <main>) so that
  // a wrong clock on the device does not skew the countdowns.
  let offset = 0;
  const clockHolder = document.querySelector('[data-server-time]');
  if (clockHolder) {
    const t = Date.parse(clockHolder.getAttribute('data-server-time'));
    if (!Number.isNaN(t)) offset = t - Date.now();
  }

  const formatDuration = window.AuctionFormat.duration;

  const items = nodes.map((node) => ({
    node: node,
    target: node.querySelector('.time-left') || node,
    endsAt: Date.parse(node.getAttribute('data-ends-at')),
  })).filter((it) => !Number.isNaN(it.endsAt));

  function tick() {
    const now = Date.now() + offset;
    let soonest = Infinity;
    for (const it of items) {
      const left = it.endsAt - now;
      const text = left > 0 ? formatDuration(left) : 'Ended';
      if (it.target.textContent !== text) it.target.textContent = text;
      it.node.classList.toggle('ending-soon', left > 0 && left < 60000);
      it.node.classList.toggle('ended', left <= 0);
      if (left > 0) soonest = Math.min(soonest, left);
    }
    if (soonest === Infinity) return;
    setTimeout(tick, soonest < 60000 ? 250 : 1000 - (now % 1000) + 5);
  }
  tick();
})();
