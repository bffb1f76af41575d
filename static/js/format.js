// Formatting shared by the page scripts, which load it first (deferred scripts run in document
// order). Its one global, AuctionFormat, is the only name any of the scripts adds.
(function () {
  'use strict';

  // duration shows the two largest units, as the server renders the pages: "3d 4h", "2h 5m",
  // "4m 5s", "42s".
  function duration(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  window.AuctionFormat = Object.freeze({ duration: duration });
})();
