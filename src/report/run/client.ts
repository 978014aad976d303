/**
 * The page's own script, as text (it runs in the browser, so it is not typechecked against Node):
 * reads the embedded chart data and draws each traffic class's request rate, error ratio, latency
 * and requests in flight (count on the left axis, the oldest one's age on the right), and each
 * Prometheus query's range series against its expectation, with uPlot — phases shaded and labelled
 * (a phase the run cut short as incomplete, ending in a dashed line), marked moments as numbered lines — with one
 * cursor shared by every chart, and redraws at the page's width on resize and for print; and the
 * copy buttons beside `chaos revert` commands. Without a pointer each chart's legend shows the
 * fault phase (each line's mean over it), with a pointer the values under it.
 */

/** The script body; it expects `uPlot` loaded and `#chart-data` holding the `ChartData` JSON. */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  document.querySelectorAll('button.copy[data-copy]').forEach(function (b) {
    b.addEventListener('click', function () {
      var done = function () { b.textContent = 'Copied'; };
      if (navigator.clipboard) navigator.clipboard.writeText(b.dataset.copy).then(done, function () { b.textContent = 'Select and copy'; });
    });
  });
  var source = document.getElementById('chart-data');
  if (!source || typeof uPlot === 'undefined') return;
  var data = JSON.parse(source.textContent);
  var PHASE_FILL = {baseline: 'rgba(0,0,0,0.06)', fault: 'rgba(230,159,0,0.20)', recovery: 'rgba(86,180,233,0.16)'};
  var MARK = {
    'fault-write': {color: '#000000', dash: []},
    'first-evidence': {color: '#000000', dash: [5, 4]},
    'guardrail': {color: '#D55E00', dash: []},
    'revert': {color: '#0072B2', dash: []},
    'revert-failed': {color: '#B00020', dash: []},
    'last-evidence': {color: '#0072B2', dash: [5, 4]}
  };

  function runTime(s) {
    var sign = s < 0 ? '-' : '', a = Math.abs(Math.round(s));
    var h = Math.floor(a / 3600), m = Math.floor(a % 3600 / 60), sec = a % 60;
    var mm = h > 0 ? String(m).padStart(2, '0') : String(m);
    return sign + (h > 0 ? h + ':' : '') + mm + ':' + String(sec).padStart(2, '0');
  }
  function sig(v) {
    if (v == null || !isFinite(v)) return '–';
    if (Math.abs(v) >= 1000) return String(Math.round(v));
    return String(Number(v.toPrecision(3)));
  }

  // Phases behind the series, with their names along the top edge.
  function drawPhases(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.font = (11 * dpr) + 'px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    data.phases.forEach(function (p) {
      var x0 = Math.max(u.bbox.left, u.valToPos(p.from, 'x', true));
      var x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(p.to, 'x', true));
      if (x1 <= x0) return;
      ctx.fillStyle = PHASE_FILL[p.name] || 'rgba(0,0,0,0.04)';
      ctx.fillRect(x0, top, x1 - x0, h);
      // A phase the run cut short ends in a dashed line where it was cut, and says it is incomplete.
      if (p.cutShort) {
        ctx.strokeStyle = '#8a5a00'; ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([3 * dpr, 3 * dpr]);
        ctx.beginPath(); ctx.moveTo(x1 - dpr, top); ctx.lineTo(x1 - dpr, top + h); ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.fillStyle = p.cutShort || p.open ? '#8a5a00' : '#444';
      var labels = p.labels || [p.name];
      for (var li = 0; li < labels.length; li++) {
        if (ctx.measureText(labels[li]).width + 8 * dpr < x1 - x0) { ctx.fillText(labels[li], x0 + 4 * dpr, top + h - 15 * dpr); break; }
      }
    });
    // After a failed revert the fault may still be live: hatch from there to the end.
    if (data.liveFromS != null) {
      var lx = Math.max(u.bbox.left, u.valToPos(data.liveFromS, 'x', true)), rx = u.bbox.left + u.bbox.width;
      ctx.fillStyle = 'rgba(176,0,32,0.10)';
      ctx.fillRect(lx, top, rx - lx, h);
      ctx.strokeStyle = 'rgba(176,0,32,0.35)';
      ctx.lineWidth = 1 * dpr;
      ctx.beginPath();
      for (var hx = lx - h; hx < rx; hx += 8 * dpr) { ctx.moveTo(Math.max(hx, lx), top + h - Math.max(0, lx - hx)); ctx.lineTo(Math.min(hx + h, rx), top + Math.max(0, hx + h - rx)); }
      ctx.stroke();
      ctx.fillStyle = '#B00020';
      ctx.fillText('may still be live', lx + 4 * dpr, top + h - 15 * dpr);
    }
    ctx.restore();
  }

  // Marked moments on top of the series: a line and its number in a box, staggered when crowded.
  function drawMarkers(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, dpr = devicePixelRatio || 1;
    var lastX = -Infinity, row = 0;
    ctx.save();
    ctx.font = 'bold ' + (11 * dpr) + 'px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    data.markers.forEach(function (m) {
      var x = Math.round(u.valToPos(m.t, 'x', true));
      if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
      var style = MARK[m.kind] || MARK['fault-write'];
      ctx.strokeStyle = style.color;
      ctx.lineWidth = (m.kind === 'revert-failed' ? 3 : 1.5) * dpr;
      ctx.setLineDash(style.dash.map(function (d) { return d * dpr; }));
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      row = x - lastX < 18 * dpr ? row + 1 : 0;
      lastX = x;
      var size = 15 * dpr, y = top + 2 * dpr + row * (size + 2 * dpr);
      ctx.setLineDash([]);
      ctx.fillStyle = style.color;
      ctx.fillRect(x - size / 2, y, size, size);
      ctx.fillStyle = '#ffffff';
      ctx.fillText(String(m.n), x, y + size / 2 + 0.5 * dpr);
    });
    ctx.restore();
  }

  var x = function (c) { return c.second.map(function (s) { return data.offsetS + s + 0.5; }); };
  var maxOf = function (arrays) {
    var m = 0;
    arrays.forEach(function (a) { a.forEach(function (v) { if (v != null && v > m) m = v; }); });
    return m;
  };
  var minPositive = function (arrays) {
    var m = Infinity;
    arrays.forEach(function (a) { a.forEach(function (v) { if (v != null && v > 0 && v < m) m = v; }); });
    return m;
  };
  var ratio = function (c) { return c.requests.map(function (r, i) { return r > 0 ? c.failed[i] / r * 100 : null; }); };

  // One y range per metric across classes, so targeted and control compare at a glance.
  var rateMax = maxOf(data.classes.map(function (c) { return c.requests; })) || 1;
  var limitMax = function (metric) {
    return data.limits.reduce(function (m, l) { return l.metric === metric && l.value > m ? l.value : m; }, 0);
  };
  var errMax = Math.max(5, maxOf(data.classes.map(ratio)), limitMax('errors'));
  var lat = [];
  data.classes.forEach(function (c) { lat.push(c.p50, c.p95, c.p99); });
  var latMax = Math.max(maxOf(lat), limitMax('latency')) || 1, latMin = minPositive(lat);
  var logLatency = isFinite(latMin) && latMax / latMin > 30;
  var flying = data.classes.filter(function (c) { return c.inFlight; }).map(function (c) { return c.inFlight; });
  var flightMax = Math.max(1, maxOf(flying.map(function (f) { return f.count; })));
  var ageMax = Math.max(1, maxOf(flying.map(function (f) { return f.oldestS; })));

  var METRICS = {
    rate: {
      title: 'Request rate', unit: 'req/s',
      range: function () { return [0, rateMax * 1.15]; },
      series: function (c) {
        var s = [{label: 'sent', stroke: '#0072B2', width: 2, values: c.requests}, {label: 'failed', stroke: '#D55E00', width: 2, dash: [6, 3], values: c.failed}];
        if (c.dropped.some(function (d) { return d > 0; })) s.push({label: 'dropped', stroke: '#666666', width: 1.5, dash: [2, 3], values: c.dropped});
        // Cancelled by the runner when it stopped the run: neither answered nor failed.
        if (c.cancelled) s.push({label: 'cancelled', stroke: '#CC79A7', width: 2, dash: [2, 2], values: c.cancelled});
        return s;
      }
    },
    errors: {
      title: 'Error ratio', unit: '%',
      range: function () { return [0, errMax * 1.1]; },
      series: function (c) { return [{label: 'failed / sent', stroke: '#D55E00', width: 2, fill: 'rgba(213,94,0,0.15)', values: ratio(c)}]; }
    },
    // Requests in flight once a second: a delay shows here while it happens (the count climbs to
    // rate × delay, the oldest one's age saws up to the delay), latency only once they complete.
    inflight: {
      unit: '', yLabel: 'requests', integer: true,
      range: function () { return [0, Math.ceil(flightMax * 1.15)]; },
      x: function (c) { return c.inFlight.at.map(function (s) { return Math.round((data.offsetS + s) * 1000) / 1000; }); },
      right: {scale: 'age', label: 'oldest, s', range: function () { return [0, ageMax * 1.15]; }},
      series: function (c) {
        return [
          {label: 'in flight', stroke: '#0072B2', width: 2, fill: 'rgba(0,114,178,0.10)', values: c.inFlight.count},
          {label: 'oldest', stroke: '#D55E00', width: 1.5, dash: [5, 3], scale: 'age', unit: 's', values: c.inFlight.oldestS}
        ];
      }
    },
    latency: {
      title: 'Latency' + (logLatency ? ' (log scale)' : ''), unit: 'ms',
      range: function () {
        return logLatency ? [Math.pow(10, Math.floor(Math.log10(latMin))), Math.pow(10, Math.ceil(Math.log10(latMax)))] : [0, latMax * 1.15];
      },
      series: function (c) {
        return [
          {label: 'p50', stroke: '#0072B2', width: 1.5, values: c.p50},
          {label: 'p95', stroke: '#E69F00', width: 2, dash: [8, 4], values: c.p95},
          {label: 'p99', stroke: '#D55E00', width: 2.5, values: c.p99}
        ];
      }
    }
  };

  // A load chart: one class, one metric.
  function loadSpec(el) {
    var c = data.classes[Number(el.dataset.class)], metric = METRICS[el.dataset.metric];
    var key = el.dataset.metric;
    var limits = data.limits.filter(function (l) { return l.metric === key && (l.traffic === null || l.traffic === c.name); });
    return {x: metric.x ? metric.x(c) : x(c), series: metric.series(c), unit: metric.unit, yLabel: metric.yLabel, integer: metric.integer, right: metric.right,
      gutter: flying.length > 0, range: metric.range, log: metric === METRICS.latency && logLatency, limits: limits, per: 'second'};
  }

  var PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
  // A Prometheus chart: one query, a line per label set, its expectation as a dashed line.
  function promSpec(el) {
    var p = data.prometheus[Number(el.dataset.prom)];
    var max = Math.max(maxOf(p.values), p.threshold ? p.threshold.value : 0), min = 0;
    p.values.forEach(function (a) { a.forEach(function (v) { if (v != null && v < min) min = v; }); });
    return {
      x: p.t, unit: '', log: false, threshold: p.threshold, per: 'sample',
      range: function () { return [min, (max || 1) * 1.15]; },
      series: p.values.map(function (v, i) { return {label: p.labels[i], stroke: PALETTE[i % PALETTE.length], width: 2, values: v}; })
    };
  }

  function drawThreshold(threshold) {
    return function (u) {
      var ctx = u.ctx, dpr = devicePixelRatio || 1, y = Math.round(u.valToPos(threshold.value, 'y', true));
      ctx.save();
      ctx.strokeStyle = '#000'; ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      ctx.font = (11 * dpr) + 'px system-ui, sans-serif'; ctx.fillStyle = '#000'; ctx.textAlign = 'right'; ctx.textBaseline = 'bottom';
      ctx.fillText(threshold.label, u.bbox.left + u.bbox.width - 4 * dpr, y - 2 * dpr);
      ctx.restore();
    };
  }

  // The hypothesis' limits: a dashed line over each phase the limit is checked in, labelled once.
  function drawLimits(limits) {
    return function (u) {
      var ctx = u.ctx, dpr = devicePixelRatio || 1;
      ctx.save();
      ctx.font = (10.5 * dpr) + 'px system-ui, sans-serif'; ctx.textAlign = 'right'; ctx.textBaseline = 'bottom';
      limits.forEach(function (l) {
        var y = Math.round(u.valToPos(l.value, 'y', true)), labelled = false;
        if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
        l.spans.forEach(function (s) {
          var x0 = Math.max(u.bbox.left, u.valToPos(s[0], 'x', true)), x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(s[1], 'x', true));
          if (x1 <= x0) return;
          ctx.strokeStyle = '#222'; ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([7 * dpr, 3 * dpr, 2 * dpr, 3 * dpr]);
          ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
          if (!labelled && ctx.measureText(l.label).width < x1 - x0) {
            ctx.fillStyle = 'rgba(255,255,255,0.85)';
            var w = ctx.measureText(l.label).width;
            // Centred on its span: the span's ends are where the marked moments sit.
            var mid = (x0 + x1 + w) / 2;
            ctx.fillRect(mid - w - 2 * dpr, y - 14 * dpr, w + 4 * dpr, 12 * dpr);
            ctx.fillStyle = '#222'; ctx.fillText(l.label, mid, y - 2 * dpr);
            labelled = true;
          }
        });
      });
      ctx.restore();
    };
  }

  // Without a pointer a legend shows the fault phase (the last phase that ran when there is none):
  // each line's mean over the points whose time falls in it (a load second counts by its middle,
  // as in the traffic table). A blank '–' there read as missing data. A mean, not a median: a
  // 5 % abort at a few requests a second leaves most seconds without an error, and a median of 0 %
  // would hide it.
  var summaryPhase = data.phases.filter(function (p) { return p.name === 'fault'; })[0] || data.phases[data.phases.length - 1] || null;
  function phaseMean(xs, values) {
    if (!summaryPhase) return null;
    var sum = 0, n = 0;
    xs.forEach(function (t, i) { var v = values[i]; if (v != null && isFinite(v) && t >= summaryPhase.from && t < summaryPhase.to) { sum += v; n++; } });
    return n === 0 ? null : sum / n;
  }
  var SUMMARY_LABEL = summaryPhase ? summaryPhase.name + ' phase mean' : '';
  function summaryTip(perWhat) {
    if (!summaryPhase) return 'Point at a chart to read the values under the pointer.';
    return 'Without a pointer: each line\u2019s mean over the ' + summaryPhase.name + ' phase (+' + runTime(summaryPhase.from) + ' to +' + runTime(summaryPhase.to) +
      ', one value per ' + perWhat + '). Point at a chart to read the values under the pointer.';
  }

  var charts = [], RIGHT_AXIS = 44;
  function build(el, spec) {
    var means = spec.series.map(function (s) { return phaseMean(spec.x, s.values); });
    var yLabel = spec.yLabel || spec.unit;
    var scales = {x: {time: false, range: [0, data.endS]}, y: {distr: spec.log ? 3 : 1, range: spec.range}};
    var axes = [
      {values: function (u, splits) { return splits.map(runTime); }, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200], size: 28},
      {label: yLabel, labelSize: yLabel ? 14 : 0, size: 54, values: function (u, splits) { return splits.map(sig); }}
    ];
    if (spec.integer) axes[1].incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
    // A second y axis on the right for the series on another scale (the oldest request's age).
    if (spec.right) {
      scales[spec.right.scale] = {range: spec.right.range};
      axes.push({scale: spec.right.scale, side: 1, label: spec.right.label, labelSize: 14, size: RIGHT_AXIS, grid: {show: false}, values: function (u, splits) { return splits.map(sig); }});
    } else if (spec.gutter) {
      // The same room on the right as the in-flight charts, so every load chart puts a time at the same x.
      axes.push({scale: 'y', side: 1, label: ' ', labelSize: 14, size: RIGHT_AXIS, stroke: 'transparent', grid: {show: false}, ticks: {show: false}, values: function (u, splits) { return splits.map(function () { return ''; }); }});
    }
    var opts = {
      width: el.clientWidth || 600, height: Number(el.dataset.height) || 170,
      cursor: {sync: {key: 'run'}, drag: {x: false, y: false}},
      legend: {live: true, markers: {width: 2}},
      scales: scales,
      axes: axes,
      series: [{label: 'time', value: function (u, v, si, idx) { return idx == null ? SUMMARY_LABEL : v == null ? '–' : '+' + runTime(v); }}].concat(spec.series.map(function (s, i) {
        var su = s.unit != null ? s.unit : spec.unit, unit = su ? ' ' + su : '';
        var out = {label: s.label, stroke: s.stroke, width: s.width, spanGaps: false, points: {show: false},
          value: function (u, v, si, idx) {
            if (idx == null) return means[i] == null ? 'no data' : sig(means[i]) + unit;
            return v == null ? '–' : sig(v) + unit;
          }};
        if (s.dash) out.dash = s.dash;
        if (s.fill) out.fill = s.fill;
        if (s.scale) out.scale = s.scale;
        return out;
      })),
      hooks: {drawClear: [drawPhases], draw: [drawMarkers].concat(spec.threshold ? [drawThreshold(spec.threshold)] : [], spec.limits && spec.limits.length ? [drawLimits(spec.limits)] : [])}
    };
    var plot = new uPlot(opts, [spec.x].concat(spec.series.map(function (s) { return s.values; })), el);
    var legendEl = plot.root.querySelector('.u-legend'), head = el.previousElementSibling;
    if (legendEl) {
      legendEl.title = summaryTip(spec.per);
      // Onto the chart's title line, which wraps it under the title when both do not fit.
      if (head && head.classList.contains('chart-head')) head.appendChild(legendEl);
    }
    charts.push({el: el, plot: plot});
  }
  document.querySelectorAll('.chart[data-metric]').forEach(function (el) { build(el, loadSpec(el)); });
  document.querySelectorAll('.chart[data-prom]').forEach(function (el) { build(el, promSpec(el)); });

  // Every chart takes its box's width, on resize and when printed (the print box is narrower).
  function fit() {
    charts.forEach(function (ch) {
      var w = ch.el.clientWidth;
      if (w > 0 && Math.abs(w - ch.plot.width) > 1) ch.plot.setSize({width: w, height: ch.plot.height});
    });
  }
  var pending = 0;
  window.addEventListener('resize', function () { cancelAnimationFrame(pending); pending = requestAnimationFrame(fit); });
  window.addEventListener('beforeprint', fit);
  window.addEventListener('afterprint', fit);
  if (window.matchMedia) window.matchMedia('print').addEventListener('change', fit);
  document.documentElement.dataset.charts = String(charts.length);
})();
`
