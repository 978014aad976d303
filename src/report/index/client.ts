/**
 * The history index's stylesheet and its in-page script (filtering, trend charts), kept as text:
 * they run in the browser, not in Node. The script reads its data from the page's JSON element and
 * only ever sets text, attributes and `hidden` — it never parses markup, so journal strings stay text.
 */

/** Verdict colours: the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies). */
export const VERDICT_COLOURS: Record<string, string> = {
  held: '#009E73',
  deviated: '#D55E00',
  aborted: '#E69F00',
  'revert-failed': '#CC79A7',
  'could-not-run': '#7a7a7a',
  running: '#56B4E9',
  unfinished: '#0072B2',
  unreadable: '#9a9a9a',
}

/** The page's CSS (screen and print). */
export const INDEX_CSS = `
:root{--ink:#1b1f24;--muted:#5b6470;--line:#d9dee4;--soft:#f4f6f8;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink)}
*{box-sizing:border-box}body{margin:0;background:#fff}
header{padding:16px 28px 12px;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
h1{font-size:20px;margin:0}h2{font-size:15px;margin:0 0 8px}h3{font-size:14px;margin:0}
.meta{color:var(--muted);font-size:12.5px}
main{padding:12px 28px 28px}
.bar{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:4px 0 14px}
.bar label{font-weight:600}select{font:inherit;padding:3px 6px;border:1px solid #aab2bd;border-radius:4px;background:#fff;max-width:22em}
.chips{display:flex;flex-wrap:wrap;gap:6px}
.chip{font:inherit;font-size:12.5px;cursor:pointer;border-radius:12px;padding:1px 9px}
.chip[aria-pressed=true]{outline:2px solid var(--ink);outline-offset:1px}
.v{display:inline-flex;align-items:center;gap:5px;white-space:nowrap;border:1.5px solid var(--c);background:color-mix(in srgb,var(--c) 13%,#fff);color:var(--ink);font-weight:600}
.v i{font-style:normal;color:var(--c);font-size:13px;line-height:1}
.badge{border-radius:4px;padding:1px 7px;font-size:12.5px}
.v.unreadable{border-style:dashed}
details.trends-box>summary{cursor:pointer;font-weight:600;margin:0 0 8px;color:var(--muted)}
.trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:12px;margin-bottom:18px}
.trend{border:1px solid var(--line);border-radius:6px;padding:10px 12px 6px;break-inside:avoid}
.trend header{all:unset;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap;margin-bottom:4px}
.trend h3 button{all:unset;cursor:pointer;text-decoration:underline dotted;overflow-wrap:anywhere}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.chart{min-height:160px;min-width:0}.chart .cap{font-size:12px;color:var(--muted);margin:0 0 0 8px;min-height:1.4em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.legend{font-size:12px;color:var(--muted);margin:2px 0 12px;display:flex;flex-wrap:wrap;gap:4px 14px}
.legend b{font-weight:600}.legend .dash{letter-spacing:-1px}
table{width:100%;border-collapse:collapse;font-size:13px;table-layout:fixed}
col.c-verdict{width:10.5em}col.c-run{width:13.5em}col.c-dur{width:5.5em}col.c-num{width:8.5em}col.c-probes{width:6em}col.c-files{width:8em}
th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:6px 8px;vertical-align:bottom;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:7px 8px;vertical-align:top}
tr[hidden]{display:none}
tr.revert-failed td{background:color-mix(in srgb,#CC79A7 9%,#fff)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sub{display:block;color:var(--muted);font-size:11.5px;font-weight:400}
.exp{font-weight:600;overflow-wrap:anywhere}.when{white-space:nowrap}
.reason{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;overflow-wrap:anywhere}
.bad{color:#b23c00;font-weight:600}
a{color:#0b5cad}td.links a{margin-right:8px;white-space:nowrap}
.v.small{border-radius:4px;padding:0 5px;font-size:12px}
.attention{border-left:4px solid #CC79A7;background:color-mix(in srgb,#CC79A7 10%,#fff);padding:6px 10px;margin:0 0 12px;font-size:13px}
.empty{border:1px dashed #aab2bd;border-radius:8px;padding:28px;margin:24px 0;max-width:52em;background:var(--soft)}
.empty code,.hint code{background:#e8ecf0;padding:1px 4px;border-radius:3px}
#no-match{color:var(--muted);padding:16px 8px}
@media print{
  @page{size:A4 landscape;margin:10mm}
  html{zoom:.74}header,main{padding-left:0;padding-right:0}
  .bar select,.bar label,.chips{display:none}
  .trends{grid-template-columns:1fr 1fr}.trend{min-width:0}
  .reason{display:block}tr{break-inside:avoid}thead{display:table-header-group}
  .uplot,.uplot .u-wrap,.uplot canvas{width:100%!important;height:auto!important}.uplot .u-over,.uplot .u-under{display:none}
  a{color:inherit;text-decoration:none}
}
`

/** The in-page script: filters (mirrored in the URL's fragment) and one pair of trend charts per experiment. */
export const INDEX_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('index-data').textContent);
  var rows = Array.prototype.slice.call(document.querySelectorAll('#runs tbody tr'));
  var cards = Array.prototype.slice.call(document.querySelectorAll('.trend'));
  var chips = Array.prototype.slice.call(document.querySelectorAll('.chip'));
  var byExperiment = document.getElementById('filter-experiment');
  var byVerdict = document.getElementById('filter-verdict');
  var shown = document.getElementById('shown');
  var noMatch = document.getElementById('no-match');
  if (!byExperiment || !byVerdict) return;

  function has(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }
  function apply(remember) {
    var e = byExperiment.value, v = byVerdict.value, n = 0;
    rows.forEach(function (r) {
      var ok = (e === '' || r.getAttribute('data-experiment') === e) && (v === '' || r.getAttribute('data-verdict') === v);
      r.hidden = !ok;
      if (ok) n++;
    });
    cards.forEach(function (c) { c.hidden = e !== '' && c.getAttribute('data-experiment') !== e; });
    chips.forEach(function (c) { c.setAttribute('aria-pressed', String(c.getAttribute('data-verdict') === v)); });
    shown.textContent = n === rows.length ? (n === 1 ? 'the one run' : 'all ' + n + ' runs') : n + ' of ' + rows.length + ' runs';
    noMatch.hidden = n > 0;
    if (remember) {
      var q = new URLSearchParams();
      if (e !== '') q.set('experiment', e);
      if (v !== '') q.set('verdict', v);
      try { history.replaceState(null, '', '#' + q.toString()); } catch (err) { /* file: URLs may refuse; the filter still works */ }
    }
    charts.forEach(function (c) { if (!c.root.closest('.trend').hidden) fit(c); });
  }
  byExperiment.addEventListener('change', function () { apply(true); });
  byVerdict.addEventListener('change', function () { apply(true); });
  chips.forEach(function (c) {
    c.addEventListener('click', function () {
      var v = c.getAttribute('data-verdict');
      byVerdict.value = byVerdict.value === v ? '' : v;
      apply(true);
    });
  });
  cards.forEach(function (c) {
    var b = c.querySelector('h3 button');
    if (b) b.addEventListener('click', function () { byExperiment.value = c.getAttribute('data-experiment'); apply(true); });
  });

  var charts = [];
  var HEIGHT = 140;
  var COLOURS = data.colours;
  function shape(ctx, verdict, x, y, r) {
    ctx.beginPath();
    if (verdict === 'deviated') {
      ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
      ctx.lineWidth = r * 0.7; ctx.stroke(); return;
    }
    if (verdict === 'aborted') ctx.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
    else if (verdict === 'revert-failed') { ctx.moveTo(x, y - r * 1.15); ctx.lineTo(x + r * 1.1, y + r * 0.85); ctx.lineTo(x - r * 1.1, y + r * 0.85); ctx.closePath(); }
    else if (verdict === 'held') ctx.arc(x, y, r, 0, 2 * Math.PI);
    else {
      ctx.arc(x, y, r * 0.9, 0, 2 * Math.PI); ctx.moveTo(x - r * 0.65, y + r * 0.65); ctx.lineTo(x + r * 0.65, y - r * 0.65);
      ctx.lineWidth = r * 0.4; ctx.stroke(); return;
    }
    ctx.fill();
  }
  function markers(trend, key) {
    return function (u) {
      var ctx = u.ctx, r = (trend.t.length > 60 ? 3 : 4.5) * devicePixelRatio, bottom = u.bbox.top + u.bbox.height - r - 1;
      ctx.save();
      ctx.beginPath(); ctx.rect(u.bbox.left - r * 2, u.bbox.top - r * 2, u.bbox.width + r * 4, u.bbox.height + r * 4); ctx.clip();
      trend.t.forEach(function (t, i) {
        var v = trend.verdict[i], y = trend[key][i];
        var colour = COLOURS[v] || '#777';
        ctx.fillStyle = colour; ctx.strokeStyle = colour;
        shape(ctx, v, u.valToPos(t, 'x', true), y == null ? bottom : u.valToPos(y, 'y', true), r);
      });
      ctx.restore();
    };
  }
  // From the data, not uPlot's guess: for a single run it would span 1000 days.
  function xRange(trend) {
    var min = trend.t[0], max = trend.t[trend.t.length - 1];
    var pad = max > min ? (max - min) * 0.04 : 3600;
    return function () { return [min - pad, max + pad]; };
  }
  // The hovered run in words, in place of the chart's caption (uPlot's own legend is too wide here).
  function readout(cap, trend, spec) {
    var caption = cap.textContent;
    var show = function (v) { return v == null ? 'no data' : spec.tick(v); };
    return function (u) {
      var i = u.cursor.idx;
      cap.textContent = i == null ? caption : new Date(trend.t[i] * 1e3).toISOString().slice(0, 16).replace('T', ' ') + ' UTC · ' +
        (data.labels[trend.verdict[i]] || trend.verdict[i]) + ' · targeted ' + show(trend[spec.targeted][i]) + ', control ' + show(trend[spec.control][i]);
    };
  }
  function build(root, trend, spec) {
    var opts = {
      width: Math.max(200, root.clientWidth), height: HEIGHT,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); },
      scales: {x: {time: true, range: xRange(trend)}, y: {range: function (u, min, max) { return [0, Math.max(spec.floor, (max || 0) * 1.15)]; }}},
      axes: [{size: 44, font: '11px system-ui, sans-serif', values: X_TICKS}, {size: 62, font: '11px system-ui, sans-serif', values: function (u, ticks) { return ticks.map(spec.tick); }}],
      series: [
        {},
        {label: 'targeted', stroke: '#1b1f24', width: 1.5, spanGaps: true, points: {show: false}},
        {label: 'control', stroke: '#6b7480', dash: [6, 4], width: 1.5, spanGaps: true, points: {show: trend.t.length < 40, size: 4}}
      ],
      legend: {show: false},
      cursor: {drag: {x: false, y: false}},
      hooks: {draw: [markers(trend, spec.targeted)], setCursor: [readout(root.parentNode.querySelector('.cap'), trend, spec)]}
    };
    var chart = new uPlot(opts, [trend.t, trend[spec.targeted], trend[spec.control]], root);
    charts.push({root: root, chart: chart});
  }
  function fit(c) {
    var w = Math.max(200, c.root.clientWidth);
    if (Math.abs(w - c.chart.width) > 2) c.chart.setSize({width: w, height: HEIGHT});
  }
  // 24-hour UTC tick labels (uPlot's default is a 12-hour clock).
  var X_TICKS = [
    [86400 * 365, '{YYYY}', null, null, null, null, null, null, 1],
    [86400 * 28, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
    [86400, '{MM}-{DD}', '\n{YYYY}', null, null, null, null, null, 1],
    [60, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{MM}-{DD}', null, null, null, 1],
    [1, '{HH}:{mm}:{ss}', '\n{YYYY}-{MM}-{DD}', null, '\n{MM}-{DD}', null, null, null, 1]
  ];
  var SPECS = {
    latency: {targeted: 'tp95', control: 'cp95', floor: 1, tick: function (v) { return v >= 1000 ? +(v / 1000).toPrecision(3) + ' s' : +v.toPrecision(3) + ' ms'; }},
    errors: {targeted: 'terr', control: 'cerr', floor: 1, tick: function (v) { return +v.toPrecision(3) + ' %'; }}
  };
  cards.forEach(function (card) {
    var trend = data.trends[Number(card.getAttribute('data-trend'))];
    Array.prototype.forEach.call(card.querySelectorAll('[data-chart]'), function (root) {
      build(root.querySelector('.plot'), trend, SPECS[root.getAttribute('data-chart')]);
    });
  });
  // A link to this page with #experiment=…&verdict=… opens that view; so does editing the address.
  function fromHash() {
    var q = new URLSearchParams(location.hash.slice(1));
    byExperiment.value = has(byExperiment, q.get('experiment') || '') ? q.get('experiment') || '' : '';
    byVerdict.value = has(byVerdict, q.get('verdict') || '') ? q.get('verdict') || '' : '';
    apply(false);
  }
  fromHash();
  addEventListener('hashchange', fromHash);
  addEventListener('resize', function () { charts.forEach(fit); });
  addEventListener('beforeprint', function () { charts.forEach(fit); });
})();
`
