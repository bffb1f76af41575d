// Live client of the auction page (/auctions/{id}). Loaded as a classic deferred script; everything
// lives inside this function, so nothing leaks into the global scope.
//
// It keeps the newest auction state (the highest `seq`) and renders it, runs the countdown on the
// server's clock, holds a WebSocket open (with backoff and jitter, falling back to server-sent
// events when WebSockets keep failing), places bids over the socket or the HTTP API with a
// request_id that makes resending safe, and draws the price history.
(function () {
  'use strict';

  const page = document.getElementById('auction-page');
  if (!page) return;

  const $ = (id) => document.getElementById(id);
  const ds = page.dataset;
  const auctionId = String(ds.auctionId || '');
  const userId = String(ds.userId || '');
  const wsPath = ds.wsUrl || '/ws/auctions/' + auctionId;
  const ssePath = ds.sseUrl || '/auctions/' + auctionId + '/events';
  const bidUrl = ds.bidUrl || '/api/v1/auctions/' + auctionId + '/bids';
  const bidsUrl = ds.bidsUrl || bidUrl;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';

  const el = {
    title: $('auction-title'),
    status: $('auction-status'),
    price: $('current-price'),
    highBidder: $('high-bidder'),
    bidCount: $('bid-count'),
    watchers: $('watchers'),
    minNext: $('min-next-bid'),
    reserve: $('reserve-state'),
    countdown: $('countdown'),
    winner: $('winner'),
    bidState: $('bid-state'),
    connection: $('connection'),
    chart: $('price-chart'),
    history: $('bid-history'),
    form: $('bid-form'),
    amount: $('bid-amount'),
    max: $('bid-max'),
    submit: $('bid-submit'),
    message: $('bid-message'),
    buyForm: $('buy-form'),
  };

  // ---------------------------------------------------------------------------------------
  // Formatting

  const SYMBOLS = { USD: '$', EUR: '€', GBP: '£', JPY: '¥' };

  // formatMoney renders a wire amount ("1234.50") without ever going through a float:
  // "$1,234.50", or "1,234.50 CHF" for currencies without a well-known symbol.
  function formatMoney(amount, currency) {
    if (amount === null || amount === undefined || amount === '') return '—';
    const s = String(amount);
    const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
    if (!m) return s;
    const int = m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const frac = ((m[3] || '') + '00').slice(0, 2);
    const n = m[1] + int + '.' + frac;
    const cur = currency || 'USD';
    return SYMBOLS[cur] ? SYMBOLS[cur] + n : n + ' ' + cur;
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  const formatDuration = window.AuctionFormat.duration;

  function formatClock(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return '';
    return new Date(t).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  // cents turns a validated amount string into integer cents (exact below 2^53).
  function cents(amount) {
    const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(amount));
    if (!m) return NaN;
    return Number(m[1]) * 100 + Number(((m[2] || '') + '00').slice(0, 2));
  }

  // ---------------------------------------------------------------------------------------
  // State

  let state = null; // the newest auction view (highest seq)
  let clockOffset = 0; // server clock minus local clock, in ms
  let participated = false; // this user has bid here (so losing the lead is "outbid")
  let lastBidCount = null;

  function isMe(user) {
    return !!(userId && user && String(user.id) === userId);
  }

  function serverNow() {
    return Date.now() + clockOffset;
  }

  // applyState takes an auction view from any source and renders it if it is not older than the
  // one shown. Equal seq is the same state (e.g. the snapshot after a reconnect): it only
  // refreshes the clock offset.
  function applyState(next) {
    if (!next || typeof next !== 'object' || typeof next.seq !== 'number') return;
    if (auctionId && next.id !== undefined && String(next.id) !== auctionId) return;
    if (state && next.seq < state.seq) return;
    const t = Date.parse(next.server_time);
    if (!Number.isNaN(t)) clockOffset = t - Date.now();
    const prev = state;
    state = next;
    render(prev, next);
    scheduleTick();
  }

  function render(prev, s) {
    const cur = s.currency;
    setText(el.title, s.title);

    if (el.status) {
      el.status.dataset.status = s.status;
      setText(el.status, { scheduled: 'Scheduled', open: 'Open', closed: 'Closed', cancelled: 'Cancelled' }[s.status] || s.status);
    }

    const hasBid = s.current_price !== null && s.current_price !== undefined;
    // The page labels the price in #price-label when it has one; otherwise the label goes
    // into the price itself.
    const label = $('price-label');
    let priceText;
    if (label) {
      const over = s.status === 'closed' || s.status === 'cancelled';
      setText(label, hasBid ? (over ? 'Final price' : 'Current bid') : 'Starting at');
      priceText = formatMoney(hasBid ? s.current_price : s.starting_price, cur);
    } else {
      priceText = hasBid ? formatMoney(s.current_price, cur) : 'starting at ' + formatMoney(s.starting_price, cur);
    }
    if (el.price && el.price.textContent !== priceText) {
      el.price.textContent = priceText;
      if (prev && prev.current_price !== s.current_price) flash(el.price);
    }
    if (prev && prev.current_price !== s.current_price && s.current_price) {
      addChartPoint(s.current_price, s.server_time);
    }

    setText(el.highBidder, s.high_bidder ? s.high_bidder.name + (isMe(s.high_bidder) ? ' (you)' : '') : 'No bids yet');
    setText(el.bidCount, String(s.bid_count));
    setText(el.watchers, String(s.watchers));
    setText(el.minNext, s.status === 'closed' || s.status === 'cancelled' ? '—' : formatMoney(s.min_next_bid, cur));

    if (el.reserve) {
      if (s.reserve_met === null || s.reserve_met === undefined) {
        el.reserve.hidden = true;
      } else {
        el.reserve.hidden = false;
        el.reserve.dataset.met = String(s.reserve_met);
        setText(el.reserve, s.reserve_met ? 'Reserve met' : 'Reserve not met');
      }
    }

    if (el.countdown) {
      el.countdown.setAttribute('datetime', s.ends_at);
      if (prev && prev.ends_at !== s.ends_at && s.status === 'open') {
        el.countdown.classList.add('extended');
        setTimeout(() => el.countdown.classList.remove('extended'), 3000);
      }
    }
    renderCountdown();
    renderOutcome(s);
    renderBidState(prev, s);
    renderForms(s);

    if (lastBidCount !== null && s.bid_count > lastBidCount) refreshHistory();
    lastBidCount = s.bid_count;
  }

  function renderOutcome(s) {
    if (!el.winner) return;
    const done = s.status === 'closed' || s.status === 'cancelled';
    el.winner.hidden = !done;
    if (!done) {
      setText(el.winner, '');
      return;
    }
    let text;
    if (s.status === 'cancelled') {
      text = 'This auction was cancelled.';
    } else if (s.winner) {
      const who = isMe(s.winner) ? 'You' : s.winner.name;
      const price = formatMoney(s.current_price, s.currency);
      text = s.closed_reason === 'bought'
        ? (isMe(s.winner) ? 'You bought this for ' : 'Bought by ' + who + ' for ') + price
        : (isMe(s.winner) ? 'You won at ' : 'Won by ' + who + ' at ') + price;
    } else if (s.bid_count > 0 && s.reserve_met === false) {
      text = 'Ended without a winner: the reserve was not met.';
    } else {
      text = 'Ended without a winner.';
    }
    setText(el.winner, text);
  }

  function setBidState(kind, text) {
    if (!el.bidState) return;
    // "Bid placed, you lead" is stale once someone else leads.
    if (kind === 'outbid' && el.message && el.message.dataset.kind === 'success') showMessage('info', '');
    el.bidState.classList.toggle('state-winning', kind === 'winning');
    el.bidState.classList.toggle('state-outbid', kind === 'outbid');
    el.bidState.hidden = !kind;
    setText(el.bidState, text || '');
  }

  function renderBidState(prev, s) {
    if (!userId) return;
    if (isMe(s.high_bidder) || (prev && isMe(prev.high_bidder))) participated = true;
    if (s.status === 'closed' || s.status === 'cancelled') {
      setBidState('', ''); // #winner says how it ended
      return;
    }
    if (isMe(s.high_bidder)) {
      setBidState('winning', 'You are winning');
    } else if (participated && s.high_bidder) {
      setBidState('outbid', 'You have been outbid');
    } else {
      setBidState('', '');
    }
  }

  function renderForms(s) {
    const open = s.status === 'open';
    if (el.form) {
      const done = s.status === 'closed' || s.status === 'cancelled';
      el.form.hidden = done;
      el.form.setAttribute('aria-disabled', String(!open));
      for (const input of el.form.querySelectorAll('input, button, select, textarea')) {
        if (input.type === 'hidden') continue;
        input.disabled = !open || (input === el.submit && pending.size > 0);
      }
      if (el.amount) {
        el.amount.placeholder = 'Min ' + formatMoney(s.min_next_bid, s.currency);
        el.amount.setAttribute('data-min', s.min_next_bid);
        if (el.amount.type === 'number') el.amount.min = s.min_next_bid;
      }
      if (!open && !done && el.message && !el.message.textContent) {
        showMessage('info', 'Bidding opens ' + new Date(Date.parse(s.starts_at)).toLocaleString() + '.');
      }
    }
    if (el.buyForm) {
      const can = open && s.bid_count === 0 && !!s.buy_now_price;
      el.buyForm.hidden = !can;
      for (const b of el.buyForm.querySelectorAll('button, input[type=submit]')) b.disabled = !can;
    }
  }

  function flash(node) {
    node.classList.remove('price-flash');
    void node.offsetWidth; // restart the animation
    node.classList.add('price-flash');
    const done = () => node.classList.remove('price-flash');
    node.addEventListener('animationend', done, { once: true });
    setTimeout(done, 2000);
  }

  // ---------------------------------------------------------------------------------------
  // Countdown

  let tickTimer = null;

  function renderCountdown() {
    if (!el.countdown || !state) return 0;
    const s = state;
    let text;
    let left = 0;
    if (s.status === 'cancelled') {
      text = 'Cancelled';
    } else if (s.status === 'closed') {
      text = 'Ended';
    } else if (s.status === 'scheduled' && Date.parse(s.starts_at) > serverNow()) {
      left = Date.parse(s.starts_at) - serverNow();
      text = 'Starts in ' + formatDuration(left);
    } else {
      left = Date.parse(s.ends_at) - serverNow();
      text = left > 0 ? formatDuration(left) : 'Ended';
      if (left <= 0) left = 0;
    }
    el.countdown.classList.toggle('ending-soon', s.status === 'open' && left > 0 && left < 60000);
    setText(el.countdown, text);
    return left;
  }

  function scheduleTick() {
    clearTimeout(tickTimer);
    const left = renderCountdown();
    if (!state || left <= 0) return;
    // Tick on the second boundary of the time left; four times a second in the last minute.
    const step = left < 60000 ? 250 : (left % 1000) + 5;
    tickTimer = setTimeout(scheduleTick, Math.max(50, step));
  }

  // ---------------------------------------------------------------------------------------
  // Price chart (SVG, no library)

  const SVG = 'http://www.w3.org/2000/svg';
  let chartPoints = []; // [{price: Number, label: string}] oldest first
  let chartLoaded = false;

  function addChartPoint(amount, time) {
    const price = Number(amount);
    if (!Number.isFinite(price)) return;
    const last = chartPoints[chartPoints.length - 1];
    if (last && last.price === price) return;
    chartPoints.push({ price: price, amount: amount, time: time });
    if (chartPoints.length > 200) chartPoints = chartPoints.slice(-200);
    if (chartLoaded) drawChart();
  }

  function svg(name, attrs) {
    const n = document.createElementNS(SVG, name);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    return n;
  }

  // drawChart draws the points in the container's own pixels (1 SVG unit = 1 CSS pixel), so
  // that the line and the labels keep their size on a phone and on a wide screen.
  function drawChart() {
    if (!el.chart) return;
    const cs = getComputedStyle(el.chart);
    const inner = el.chart.clientWidth - parseFloat(cs.paddingLeft || '0') - parseFloat(cs.paddingRight || '0');
    const W = Math.max(120, Math.round(inner || 320));
    const H = W < 420 ? 120 : 150;
    const padL = 6;
    const padR = 8;
    const padT = 22;
    const padB = 22;
    el.chart.textContent = '';
    if (chartPoints.length === 0) {
      const p = document.createElement('p');
      p.className = 'chart-empty muted';
      p.style.margin = '0';
      p.style.padding = '0.5rem';
      p.textContent = 'No bids yet.';
      el.chart.appendChild(p);
      return;
    }
    const cur = state && state.currency;
    const prices = chartPoints.map((p) => p.price);
    let lo = Math.min.apply(null, prices);
    let hi = Math.max.apply(null, prices);
    if (hi === lo) {
      hi += 1;
      lo = Math.max(0, lo - 1);
    }
    const n = chartPoints.length;
    const x = (i) => (n === 1 ? W / 2 : padL + (i * (W - padL - padR)) / (n - 1));
    const y = (v) => padT + (1 - (v - lo) / (hi - lo)) * (H - padT - padB);
    const root = svg('svg', {
      viewBox: '0 0 ' + W + ' ' + H,
      width: String(W),
      height: String(H),
      'aria-hidden': 'true',
      focusable: 'false',
    });
    root.style.display = 'block';
    root.style.width = '100%';
    root.style.height = 'auto';
    root.style.overflow = 'visible';
    const line = 'var(--primary, currentColor)';
    const coords = chartPoints.map((p, i) => x(i).toFixed(1) + ',' + y(p.price).toFixed(1));
    const axis = svg('line', { x1: padL, x2: W - padR, y1: H - padB, y2: H - padB, 'stroke-width': '1' });
    axis.style.stroke = 'currentColor';
    axis.style.strokeOpacity = '0.15';
    root.appendChild(axis);
    if (n > 1) {
      const area = svg('polygon', {
        points: padL + ',' + (H - padB) + ' ' + coords.join(' ') + ' ' + (W - padR) + ',' + (H - padB),
      });
      area.style.fill = line;
      area.style.fillOpacity = '0.1';
      root.appendChild(area);
      const path = svg('polyline', {
        points: coords.join(' '), fill: 'none', 'stroke-width': '2.5',
        'stroke-linejoin': 'round', 'stroke-linecap': 'round',
      });
      path.style.stroke = line;
      root.appendChild(path);
    }
    const last = chartPoints[n - 1];
    const dot = svg('circle', { cx: x(n - 1).toFixed(1), cy: y(last.price).toFixed(1), r: '4' });
    dot.style.fill = line;
    root.appendChild(dot);
    const label = (text, yy) => {
      const t = svg('text', { x: padL, y: yy, 'font-size': '12' });
      t.style.fill = 'currentColor';
      t.style.fillOpacity = '0.6';
      t.textContent = text;
      root.appendChild(t);
    };
    label(formatMoney(hi.toFixed(2), cur), 14);
    label(formatMoney(lo.toFixed(2), cur), H - 6);
    el.chart.setAttribute('aria-label', 'Price history: ' + plural(n, 'point', 'points') + ', from ' +
      formatMoney(chartPoints[0].amount, cur) + ' to ' + formatMoney(last.amount, cur));
    el.chart.appendChild(root);
  }

  if (el.chart) {
    let resizeTimer = null;
    let lastWidth = el.chart.clientWidth;
    const onResize = () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (!chartLoaded || el.chart.clientWidth === lastWidth) return;
        lastWidth = el.chart.clientWidth;
        drawChart();
      }, 150);
    };
    if (typeof ResizeObserver === 'function') new ResizeObserver(onResize).observe(el.chart);
    else window.addEventListener('resize', onResize);
  }

  // ---------------------------------------------------------------------------------------
  // Bid history

  let historyInFlight = false;
  let historyAgain = false;
  let historyTimer = null;

  function fetchBids(limit) {
    return fetch(bidsUrl + (bidsUrl.indexOf('?') < 0 ? '?' : '&') + 'limit=' + limit, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    }).then((res) => {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then((body) => (body && Array.isArray(body.bids) ? body.bids : []));
  }

  function renderHistory(bids) {
    if (!el.history) return;
    const frag = document.createDocumentFragment();
    for (const b of bids.slice(0, 50)) {
      const li = document.createElement('li');
      li.dataset.bidId = String(b.id);
      if (b.bidder && isMe(b.bidder)) li.classList.add('mine');
      const who = document.createElement('span');
      who.className = 'bid-who';
      who.textContent = b.bidder ? b.bidder.name + (isMe(b.bidder) ? ' (you)' : '') : '';
      const amt = document.createElement('span');
      amt.className = 'bid-amount';
      amt.textContent = formatMoney(b.amount, state && state.currency);
      const when = document.createElement('time');
      when.className = 'bid-time';
      when.setAttribute('datetime', b.created_at);
      when.textContent = formatClock(b.created_at);
      li.append(who, ' ', amt, ' ', when);
      frag.appendChild(li);
    }
    el.history.textContent = '';
    el.history.appendChild(frag);
  }

  function refreshHistory() {
    if (!el.history) return;
    clearTimeout(historyTimer);
    historyTimer = setTimeout(() => {
      if (historyInFlight) {
        historyAgain = true;
        return;
      }
      historyInFlight = true;
      fetchBids(50).then(renderHistory, () => {}).then(() => {
        historyInFlight = false;
        if (historyAgain) {
          historyAgain = false;
          refreshHistory();
        }
      });
    }, 250);
  }

  function loadInitialBids() {
    fetchBids(200).then((bids) => {
      const statePoints = chartPoints;
      chartPoints = bids.slice().reverse().map((b) => ({ price: Number(b.amount), amount: b.amount, time: b.created_at }))
        .filter((p) => Number.isFinite(p.price));
      for (const p of statePoints) addChartPoint(p.amount, p.time);
      chartLoaded = true;
      drawChart();
      if (el.history) renderHistory(bids);
      if (userId && bids.some((b) => isMe(b.bidder))) {
        participated = true;
        if (state) renderBidState(null, state);
      }
    }, () => {
      chartLoaded = true;
      drawChart();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Connection: WebSocket first, SSE as the fallback

  const BACKOFF_BASE = 500;
  const BACKOFF_CAP = 15000;
  const WS_FAILURES_BEFORE_FALLBACK = 3;
  const WS_RETRY_FROM_FALLBACK = 60000;

  let ws = null;
  let es = null;
  let mode = 'ws'; // 'ws' | 'sse' | 'offline'
  let stopped = false; // signed out (1000) or page hidden away
  let wsFailures = 0; // consecutive attempts that never opened
  let attempt = 0; // backoff exponent
  let reconnectTimer = null;
  let probeTimer = null;
  let esRestartTimer = null;

  const CONNECTION_TEXT = {
    connecting: 'Connecting…',
    live: 'Live',
    fallback: 'Live (compatibility mode)',
    offline: 'Offline',
  };

  function setConnection(st, text) {
    if (!el.connection) return;
    el.connection.dataset.state = st;
    setText(el.connection, text || CONNECTION_TEXT[st]);
  }

  function backoffDelay() {
    const ceiling = Math.min(BACKOFF_CAP, BACKOFF_BASE * Math.pow(2, attempt));
    attempt = Math.min(attempt + 1, 16);
    return Math.random() * ceiling; // full jitter
  }

  function wsURL() {
    return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + wsPath;
  }

  function connect() {
    if (stopped) return;
    if (typeof WebSocket !== 'function') {
      startSSE();
      return;
    }
    connectWS();
  }

  function connectWS() {
    clearTimeout(reconnectTimer);
    clearTimeout(probeTimer);
    reconnectTimer = null;
    probeTimer = null;
    if (stopped || ws) return;
    let sock;
    try {
      sock = new WebSocket(wsURL());
    } catch (e) {
      wsFailures++;
      afterWSFailure();
      return;
    }
    ws = sock;
    let opened = false;
    let openedAt = 0;
    if (mode !== 'sse') setConnection('connecting');

    sock.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      openedAt = Date.now();
      wsFailures = 0;
      mode = 'ws';
      stopSSE();
      setConnection('live');
      flushPending();
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      handleMessage(ev.data);
    };
    sock.onerror = () => {}; // a close event always follows
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (stopped) return;
      if (opened && Date.now() - openedAt > 10000) attempt = 0;
      if (ev.code === 1000 && opened) {
        // The server closes with 1000 only when this session signed out.
        goOffline('Signed out. Reload the page to reconnect.');
        return;
      }
      if (!opened) wsFailures++;
      afterWSFailure();
    };
  }

  function afterWSFailure() {
    if (mode === 'sse') {
      scheduleProbe(); // still on SSE; try WebSockets again later
      return;
    }
    if (wsFailures >= WS_FAILURES_BEFORE_FALLBACK) {
      startSSE();
      return;
    }
    setConnection('connecting', 'Reconnecting…');
    reconnectTimer = setTimeout(connectWS, backoffDelay());
  }

  function scheduleProbe() {
    clearTimeout(probeTimer);
    if (stopped || typeof WebSocket !== 'function') return;
    probeTimer = setTimeout(connectWS, WS_RETRY_FROM_FALLBACK);
  }

  function startSSE() {
    if (stopped) return;
    mode = 'sse';
    if (typeof EventSource !== 'function') {
      // Neither transport: keep trying WebSockets with backoff.
      setConnection('offline', 'Live updates unavailable; retrying…');
      mode = 'ws';
      reconnectTimer = setTimeout(connectWS, backoffDelay());
      return;
    }
    scheduleProbe();
    if (es) return;
    setConnection('connecting');
    const src = new EventSource(ssePath, { withCredentials: true });
    es = src;
    const onEvent = (ev) => {
      if (es !== src) return;
      handleMessage(ev.data, ev.type);
    };
    src.addEventListener('snapshot', onEvent);
    src.addEventListener('auction', onEvent);
    src.addEventListener('outbid', onEvent);
    src.onmessage = onEvent;
    src.onopen = () => {
      if (es !== src) return;
      attempt = 0;
      setConnection('fallback');
      flushPending();
    };
    src.onerror = () => {
      if (es !== src) return;
      if (src.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error): start over after a backoff.
        es = null;
        setConnection('connecting', 'Reconnecting…');
        clearTimeout(esRestartTimer);
        esRestartTimer = setTimeout(() => {
          if (mode === 'sse') startSSE();
        }, backoffDelay());
      } else {
        setConnection('connecting', 'Reconnecting…');
      }
    };
  }

  function stopSSE() {
    clearTimeout(esRestartTimer);
    if (es) {
      es.close();
      es = null;
    }
  }

  function goOffline(text) {
    stopped = true;
    mode = 'offline';
    clearTimeout(reconnectTimer);
    clearTimeout(probeTimer);
    stopSSE();
    if (ws) {
      const w = ws;
      ws = null;
      w.close(1000);
    }
    setConnection('offline', text);
    for (const [id] of pending) finishPending(id);
    showMessage('error', text || 'You are offline.');
  }

  // The page went to the back/forward cache or is being unloaded: close cleanly, and come back
  // if it is shown again.
  window.addEventListener('pagehide', () => {
    if (mode === 'offline') return;
    stopped = true;
    clearTimeout(reconnectTimer);
    clearTimeout(probeTimer);
    stopSSE();
    if (ws) {
      const w = ws;
      ws = null;
      w.close(1000);
    }
  });
  window.addEventListener('pageshow', (ev) => {
    if (!ev.persisted || mode === 'offline') return;
    stopped = false;
    attempt = 0;
    wsFailures = 0;
    mode = 'ws';
    connect();
  });
  // Phones: reconnect at once when the network or the tab comes back rather than waiting out
  // a long backoff.
  function nudge() {
    if (stopped) return;
    if (mode === 'ws' && !ws && reconnectTimer) {
      attempt = 0;
      connectWS();
    }
  }
  window.addEventListener('online', nudge);
  window.addEventListener('offline', () => {
    if (!stopped) setConnection('offline', 'No network; waiting…');
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') nudge();
  });

  function handleMessage(raw, eventType) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (e) {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    let type = msg.type || eventType;
    if (!msg.type && typeof msg.seq === 'number') {
      msg = { type: 'auction', auction: msg }; // an SSE event whose data is the bare state
      type = 'auction';
    }
    switch (type) {
      case 'snapshot':
      case 'auction':
        applyState(msg.auction);
        break;
      case 'bid_accepted':
        onBidAccepted(msg.request_id, msg);
        break;
      case 'bid_rejected':
        onBidRejected(msg.request_id, msg.error);
        break;
      case 'outbid':
        if (msg.auction_id !== undefined && String(msg.auction_id) !== auctionId) break;
        participated = true;
        if (!state || !isMe(state.high_bidder)) {
          setBidState('outbid', 'You have been outbid');
        }
        break;
      default:
        break; // "error" and anything new: nothing to show
    }
  }

  // ---------------------------------------------------------------------------------------
  // Bidding

  const pending = new Map(); // request_id -> {amount, max, sentOn, timer, httpTries}
  const BID_ANSWER_TIMEOUT = 10000;

  function newRequestId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    const b = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(b);
    else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
    return Array.from(b, (x) => (x < 16 ? '0' : '') + x.toString(16)).join('');
  }

  // showMessage puts a line under the bid form; kind is error, success, warning or info.
  function showMessage(kind, text) {
    if (!el.message) return;
    el.message.dataset.kind = kind;
    el.message.classList.toggle('is-error', kind === 'error');
    el.message.classList.toggle('is-ok', kind === 'success');
    el.message.textContent = text;
  }

  // normalizeAmount accepts "12", "12.5", "12.50" and a decimal comma ("12,50"); null if bad.
  function normalizeAmount(raw) {
    let v = String(raw || '').trim().replace(/^[$€£]\s*/, '');
    if (/^\d+,\d{1,2}$/.test(v)) v = v.replace(',', '.');
    if (!/^\d+(\.\d{1,2})?$/.test(v)) return null;
    const c = cents(v);
    if (!(c > 0) || c >= 1e14) return null;
    return v;
  }

  function updateSubmit() {
    if (!el.submit) return;
    const open = !state || state.status === 'open';
    el.submit.disabled = pending.size > 0 || !open;
    el.submit.setAttribute('aria-busy', String(pending.size > 0));
  }

  function onSubmit(ev) {
    ev.preventDefault();
    if (pending.size > 0) return;
    if (mode === 'offline') {
      showMessage('error', 'You have been signed out. Reload the page to sign in and bid.');
      return;
    }
    if (state && state.status !== 'open') {
      showMessage('error', state.status === 'scheduled' ? 'Bidding has not started yet.' : 'This auction has ended.');
      return;
    }
    const rawAmount = el.amount ? el.amount.value : '';
    const amount = normalizeAmount(rawAmount);
    if (el.amount) {
      if (amount) el.amount.removeAttribute('aria-invalid');
      else el.amount.setAttribute('aria-invalid', 'true');
    }
    if (el.max) el.max.removeAttribute('aria-invalid');
    if (!amount) {
      showMessage('error', String(rawAmount).trim() === ''
        ? 'Enter your bid, for example ' + (state ? state.min_next_bid : '10.00') + '.'
        : 'Enter an amount like 12 or 12.50: digits, with at most two after the point.');
      if (el.amount) el.amount.focus();
      return;
    }
    let max = null;
    const rawMax = el.max ? el.max.value.trim() : '';
    if (rawMax !== '') {
      max = normalizeAmount(rawMax);
      if (!max) {
        el.max.setAttribute('aria-invalid', 'true');
        showMessage('error', 'Enter your maximum like 20 or 20.50, or leave it empty.');
        el.max.focus();
        return;
      }
      if (cents(max) < cents(amount)) {
        el.max.setAttribute('aria-invalid', 'true');
        showMessage('error', 'Your maximum cannot be lower than your bid.');
        el.max.focus();
        return;
      }
    }
    const id = newRequestId();
    pending.set(id, { amount: amount, max: max, sentOn: null, timer: null, httpTries: 0 });
    updateSubmit();
    showMessage('info', 'Placing your bid of ' + formatMoney(amount, state && state.currency) + '…');
    sendBid(id);
  }

  // sendBid sends (or resends, with the same request_id) one pending bid on whatever transport
  // is up. With no transport up it stays pending and goes out when one opens.
  function sendBid(id) {
    const p = pending.get(id);
    if (!p) return;
    if (ws && ws.readyState === WebSocket.OPEN) {
      const msg = { type: 'bid', request_id: id, amount: p.amount };
      if (p.max) msg.max_amount = p.max;
      try {
        ws.send(JSON.stringify(msg));
      } catch (e) {
        return; // the close handler reconnects and resends
      }
      p.sentOn = ws;
      clearTimeout(p.timer);
      const sock = ws;
      p.timer = setTimeout(() => {
        // No answer: the socket may be dead without knowing it. Reconnect; the bid is resent
        // with the same request_id, which the server never places twice.
        if (pending.has(id) && ws === sock) sock.close(4000, 'no answer');
      }, BID_ANSWER_TIMEOUT);
    } else if (mode === 'sse') {
      sendBidHTTP(id);
    } else {
      showMessage('info', 'Reconnecting… your bid will be sent as soon as the connection is back.');
    }
  }

  function flushPending() {
    for (const [id, p] of pending) {
      if (p.sentOn === 'http') continue; // its own fetch is still answering
      sendBid(id);
    }
  }

  function sendBidHTTP(id) {
    const p = pending.get(id);
    if (!p) return;
    p.sentOn = 'http';
    p.httpTries++;
    const body = { amount: p.amount, request_id: id };
    if (p.max) body.max_amount = p.max;
    fetch(bidUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    }).then((res) => res.json().catch(() => ({})).then((data) => ({ res: res, data: data })))
      .then(({ res, data }) => {
        if (res.ok) {
          if (data.auction) applyState(data.auction);
          onBidAccepted(id, data);
          return;
        }
        const err = (data && data.error) || { code: 'http_' + res.status };
        if ((err.code === 'unavailable' || res.status >= 500) && p.httpTries < 4) {
          setTimeout(() => sendBidHTTP(id), 1000 * p.httpTries);
          return;
        }
        onBidRejected(id, err);
      }, () => {
        // Network failure: retry the same request_id a few times, then give up.
        if (p.httpTries < 4) {
          setTimeout(() => sendBidHTTP(id), 1000 * p.httpTries);
        } else {
          finishPending(id);
          showMessage('error', 'Could not reach the server. Check your connection; your bid may not have been placed.');
        }
      });
  }

  function finishPending(id) {
    const p = pending.get(id);
    if (p) clearTimeout(p.timer);
    pending.delete(id);
    updateSubmit();
  }

  function onBidAccepted(id, msg) {
    const p = pending.get(id);
    if (!p) return;
    finishPending(id);
    participated = true;
    const amount = (msg.bid && msg.bid.amount) || p.amount;
    const money = formatMoney(amount, state && state.currency);
    if (msg.leading) {
      showMessage('success', 'Bid of ' + money + ' placed. You are the highest bidder.');
      if (!state || !state.high_bidder || isMe(state.high_bidder)) setBidState('winning', 'You are winning');
    } else {
      showMessage('warning', 'Bid of ' + money + ' placed, but another bidder’s maximum is higher.');
      setBidState('outbid', 'You have been outbid');
    }
    if (el.amount) el.amount.value = '';
    if (el.max) el.max.value = '';
  }

  function errorText(err) {
    const code = err && err.code;
    const cur = state && state.currency;
    switch (code) {
      case 'bid_too_low':
        if (state && isMe(state.high_bidder)) {
          return 'You are already the highest bidder. To bid more, raise your maximum above your current one.';
        }
        return 'Your bid is too low. The minimum is now ' + formatMoney(state ? state.min_next_bid : '', cur) + '.';
      case 'auction_closed':
        return 'Bidding has ended for this auction.';
      case 'auction_not_open':
        return 'Bidding has not started yet.';
      case 'own_auction':
        return 'You cannot bid on your own auction.';
      case 'rate_limited':
        return 'You are bidding too fast. Wait a moment and try again.';
      case 'unauthenticated':
        return 'Your session has ended. Sign in again to bid.';
      case 'forbidden':
        return 'Your session has expired. Reload the page and try again.';
      case 'invalid_amount':
        return 'That amount is not valid. Use digits with at most two decimals, and a maximum not below your bid.';
      case 'invalid_request':
        return 'That bid could not be understood. Check the amounts and try again.';
      case 'not_found':
        return 'This auction no longer exists.';
      case 'unavailable':
      case 'internal':
        return 'The server could not take your bid just now. Please try again.';
      default:
        return (err && err.message) || 'Your bid could not be placed.';
    }
  }

  function onBidRejected(id, err) {
    if (!pending.has(id)) return;
    finishPending(id);
    showMessage('error', errorText(err));
    if (err && err.code === 'bid_too_low' && el.amount && state) el.amount.placeholder = 'Min ' + formatMoney(state.min_next_bid, state.currency);
  }

  if (el.form) {
    el.form.setAttribute('novalidate', '');
    el.form.addEventListener('submit', onSubmit);
  }

  // ---------------------------------------------------------------------------------------
  // Start

  const initial = $('initial-state');
  if (initial) {
    try {
      applyState(JSON.parse(initial.textContent));
    } catch (e) {
      // a broken initial state only means waiting for the snapshot
    }
  }
  if (state) lastBidCount = state.bid_count;
  setConnection('connecting');
  loadInitialBids();
  connect();
})();
