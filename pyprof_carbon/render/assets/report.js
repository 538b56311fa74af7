/* pyprof-carbon HTML report: the flame graph, tables and power timeline, all computed here from
   the rows embedded in #data (one row per call-tree node x thread x time bin). No network. */
(function () {
  "use strict";
  var errors = [];
  function fail(msg) {
    errors.push(msg);
    var el = document.getElementById("errors");
    el.hidden = false; el.textContent = "Report script error:\n" + errors.join("\n");
    document.title = "JS error: " + msg;
  }
  window.addEventListener("error", function (ev) { fail(ev.message + " (line " + ev.lineno + ")"); });

  var $ = function (id) { return document.getElementById(id); };
  var D = JSON.parse($("data").textContent);
  var N = D.parent.length, R = D.rows.n.length, i;
  var COLS = ["e", "co2", "cpu", "n"].concat(D.rows.em ? ["em"] : []);
  var DENS = D.rows.em ? "em" : "e"; // power density from the measured domains' joules only
  var UNIT = { e: "J", co2: "g", cpu: "s", n: "" };
  var LABEL = { e: "energy", co2: "CO2eq", cpu: "CPU time", n: "samples" };

  // ---- decode the rows ------------------------------------------------------------------------
  var rNode = new Int32Array(R), acc = 0;
  for (i = 0; i < R; i++) { acc += D.rows.node[i]; rNode[i] = acc; }
  var rv = {};
  COLS.forEach(function (k) {
    var a = new Float64Array(R), src = D.rows[k], u = D.units[k];
    for (var j = 0; j < R; j++) a[j] = src[j] * u;
    rv[k] = a;
  });
  var rThread = D.rows.thread, rBin = D.rows.bin;
  // two trees over the same rows: FULL (every frame) and FOLDED (library frames under a library
  // frame hidden, their time in the shown frame above: the first view, "where is my code")
  function mkTree(parent, func, hidden) {
    var n = parent.length, t = { N: n, parent: parent, func: func, hidden: hidden, kids: [], depth: new Int32Array(n) };
    for (var j = 0; j < n; j++) t.kids.push([]);
    for (j = 1; j < n; j++) { t.kids[parent[j]].push(j); t.depth[j] = t.depth[parent[j]] + 1; }
    return t;
  }
  var FULL = mkTree(D.parent, D.func, null), FOLDED = mkTree(D.fold.parent, D.fold.func, D.fold.hidden);
  var kids = FULL.kids;
  var nHidden = 0;
  D.fold.hidden.forEach(function (h) { nHidden += h[0]; });
  // processes: with several, each is a root frame under "all" (file "<process>"); MERGED trees
  // put their subtrees together by function (the same tree for a program and its workers)
  function mergeProcesses(g, into) { // g's nodes onto a tree without process roots; into: FULL -> g
    var parent = [g.parent[0]], func = [g.func[0]], hidden = g.hidden ? [g.hidden[0]] : null, m = new Int32Array(g.N), at = {};
    for (var n = 1; n < g.N; n++) {  // parents come before children
      if (g.parent[n] === 0 && D.funcs[g.func[n]][1] === "<process>") { m[n] = 0; continue; }
      var key = m[g.parent[n]] + ":" + g.func[n];
      if (!(key in at)) { at[key] = parent.length; parent.push(m[g.parent[n]]); func.push(g.func[n]); if (hidden) hidden.push(g.hidden[n]); }
      m[n] = at[key];
    }
    var t = mkTree(parent, func, hidden), map = new Int32Array(N);
    for (var k = 0; k < N; k++) map[k] = m[into ? into[k] : k];
    t.map = map;
    return t;
  }
  var nProcesses = FULL.kids[0].filter(function (n) { return D.funcs[FULL.func[n]][1] === "<process>"; }).length;
  var MERGED = nProcesses > 1 ? mergeProcesses(FULL, null) : null;
  var MERGED_FOLDED = nProcesses > 1 ? mergeProcesses(FOLDED, D.fold.map) : null;
  function graph() {
    var folded = !(S.unfold || !nHidden);
    if (S.merge && MERGED) return folded ? MERGED_FOLDED : MERGED;
    return folded ? FOLDED : FULL;
  }
  function name(n, g) { g = g || FULL; return n === 0 ? "all" : D.funcs[g.func[n]][0]; }
  function where(n, g) { g = g || FULL; if (n === 0) return ""; var f = D.funcs[g.func[n]]; return f[2] > 0 ? f[1] + ":" + f[2] : f[1]; }
  function hiddenNote(n, g) {
    var h = g.hidden && g.hidden[n];
    if (!h || !h[0]) return "";
    var mods = h[1].slice(0, 3).join(", ") + (h[1].length > 3 ? "…" : "");
    return h[0] + " frame" + (h[0] > 1 ? "s" : "") + " hidden (" + mods + ")";
  }

  // ---- state (also kept in the URL hash, so a view can be shared) -----------------------------
  var S = { w: "e", thread: -1, t0: null, t1: null, focus: 0, icicle: false, left: false, q: "", sort: "selfE", asc: false, unfold: false, merge: false };
  var V;  // per node values of the selection: V.self[k], V.tot[k] (FULL tree)
  var VG; // the same on the tree the flame graph shows

  function fmt(v, unit) { // the same as render/tree.py fmt_num: 3 significant digits, SI prefix
    if (unit === "") return Math.round(v).toLocaleString("en");
    if (!isFinite(v)) return "–";
    if (v === 0) return "0 " + unit;
    var a = +Math.abs(v).toPrecision(3), p = [[1e-9, "n"], [1e-6, "µ"], [1e-3, "m"], [1, ""], [1e3, "k"], [1e6, "M"], [1e9, "G"]];
    for (var j = 0; j < p.length; j++)
      if (a < p[j][0] * 1000 || j === p.length - 1) return (v / p[j][0]).toPrecision(3) + " " + p[j][1] + unit;
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function sampErr(nf, n, e) { if (n <= 0) return 0; var p = nf / n; return e * Math.sqrt(Math.max(p * (1 - p), 0) / n); }

  // ---- aggregate the selection ----------------------------------------------------------------
  function compute() {
    var se = new Float64Array(N), sc = new Float64Array(N), su = new Float64Array(N), sn = new Float64Array(N);
    var bins = D.bins, th = S.thread, ranged = S.t0 !== null;
    var sm = new Float64Array(N), E = rv.e, C = rv.co2, U = rv.cpu, M = rv.n, EM = rv.em;
    for (var j = 0; j < R; j++) {
      if (th >= 0 && rThread[j] !== th) continue;
      if (ranged) { var b = rBin[j]; if (!(bins[b + 1] > S.t0 && bins[b] < S.t1)) continue; }
      var nd = rNode[j];
      se[nd] += E[j]; sc[nd] += C[j]; su[nd] += U[j]; sn[nd] += M[j];
      if (EM) sm[nd] += EM[j];
    }
    var self = { e: se, co2: sc, cpu: su, n: sn, em: sm };
    V = { self: self, tot: totals(FULL, self) };
    VG = graphValues();
  }
  function totals(g, self) {
    var tot = {};
    COLS.forEach(function (k) {
      var t = Float64Array.from(self[k]);
      for (var n = g.N - 1; n > 0; n--) t[g.parent[n]] += t[n];
      tot[k] = t;
    });
    return tot;
  }
  function graphValues() { // the FULL tree's values moved onto the tree shown
    var g = graph();
    if (g === FULL) return V;
    var self = {}, map = g.map || D.fold.map;
    COLS.forEach(function (k) {
      var a = new Float64Array(g.N), src = V.self[k];
      for (var n = 0; n < N; n++) a[map[n]] += src[n];
      self[k] = a;
    });
    return { self: self, tot: totals(g, self) };
  }

  // ---- flame graph ----------------------------------------------------------------------------
  function color(d, lo, hi) {
    if (!(d > 0) || !isFinite(d)) return "hsl(210,25%,72%)";
    var t = hi > lo ? (Math.log(d) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : 0.5;
    t = Math.min(1, Math.max(0, t));
    return "hsl(" + (52 - 52 * t).toFixed(0) + "," + (88 + 7 * t).toFixed(0) + "%," + (66 - 20 * t).toFixed(0) + "%)";
  }
  function densityRange(items) { // weighted 2nd..98th percentile of W while running (J per CPU-second)
    var pts = [], T = VG.tot;
    items.forEach(function (it) { var n = it[0]; if (T.cpu[n] > 0 && T[DENS][n] > 0) pts.push([T[DENS][n] / T.cpu[n], it[2]]); });
    if (!pts.length) return [1, 1];
    pts.sort(function (a, b) { return a[0] - b[0]; });
    var sum = 0, c = 0, lo = null, hi = pts[pts.length - 1][0];
    pts.forEach(function (p) { sum += p[1]; });
    for (var j = 0; j < pts.length; j++) {
      c += pts[j][1] / sum;
      if (lo === null && c >= 0.02) lo = pts[j][0];
      if (c >= 0.98) { hi = pts[j][0]; break; }
    }
    hi = Math.max(hi, lo);
    if (hi < 2 * lo) { var gm = Math.sqrt(lo * hi); lo = gm / Math.SQRT2; hi = gm * Math.SQRT2; } // near-equal: mid colors
    return [lo, hi];
  }
  function searchRe() {
    if (!S.q) return null;
    try { return new RegExp(S.q, "i"); } catch (e) { return new RegExp(S.q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i"); }
  }
  // estimated joules: the color is the frame's package (a hue per name), since a model's power
  // density would only repeat the model's assumption
  function hue(s) { var h = 0; for (var j = 0; j < s.length; j++) h = (h * 31 + s.charCodeAt(j)) >>> 0; return h % 360; }
  function pkgColor(pkg, user) { return "hsl(" + hue(pkg) + (user ? ",70%,62%)" : ",35%,80%)"); }
  function frameColor(n, g, rg) {
    if (D.color === "density") return color(VG.tot[DENS][n] / VG.tot.cpu[n], rg[0], rg[1]);
    if (n === 0) return "hsl(40,10%,82%)";
    var f = D.funcs[g.func[n]];
    return pkgColor(f[4], f[3] === "user");
  }
  function legend(items, g, rg) {
    if (D.color === "density") {
      var est = D.estimated.length ? " (" + esc(D.measured.join(", ")) + " only: " + esc(D.estimated.join(", ")) + " is estimated)" : "";
      return VG.tot.e[0] > 0 ? "color: power while running" + est + " " + fmt(rg[0], "W") + '<span class="sw"></span>' + fmt(rg[1], "W") + ";" : "";
    }
    var by = {}, user = {};
    items.forEach(function (it) {
      if (it[0] === 0 || it[3]) return;
      var f = D.funcs[g.func[it[0]]];
      by[f[4]] = (by[f[4]] || 0) + VG.self[S.w][it[0]]; user[f[4]] = f[3] === "user";
    });
    var top = Object.keys(by).sort(function (a, b) { return by[b] - by[a]; }).slice(0, 6);
    return "color: module (" + top.map(function (m) {
      return '<span class="chip" style="background:' + pkgColor(m, user[m]) + '"></span>' + esc(m);
    }).join(" ") + ') <span class="why" title="No power meter measured these joules: a model estimated them from CPU time, so a color by power would only repeat the model. Bright: your code; pale: libraries.">' +
      "not by power: the joules are estimated, not measured</span>;";
  }
  var ROW = 18;
  function drawFlame() {
    var g = graph(), box = $("flame"), W = box.clientWidth || 1000, w = VG.tot[S.w];
    if (S.focus >= g.N) S.focus = 0;
    var focus = w[S.focus] > 0 ? S.focus : 0, items = [];
    var anc = [];
    for (var a = g.parent[focus]; a >= 0; a = g.parent[a]) anc.unshift(a);
    anc.forEach(function (n) { items.push([n, 0, W, true]); });
    if (w[focus] > 0) {
      var scale = W / w[focus], todo = [[focus, 0]];
      while (todo.length) {
        var t = todo.pop(), n = t[0], ww = w[n] * scale;
        if (ww < 0.4) continue;
        items.push([n, t[1], ww, false]);
        var ch = g.kids[n].slice();
        if (S.left) ch.sort(function (x, y) { return w[y] - w[x]; });
        else ch.sort(function (x, y) { var p = name(x, g), q = name(y, g); return p < q ? -1 : p > q ? 1 : x - y; });
        var cx = t[1];
        for (var j = 0; j < ch.length; j++) { todo.push([ch[j], cx]); cx += w[ch[j]] * scale; }
      }
    }
    var maxD = 0;
    items.forEach(function (it) { maxD = Math.max(maxD, g.depth[it[0]]); });
    var rg = densityRange(items.filter(function (it) { return !it[3]; }));
    var re = searchRe(), hits = [], html = [];
    items.forEach(function (it) {
      var n = it[0], d = g.depth[n], top = (S.icicle ? d : maxD - d) * ROW, nm = name(n, g);
      var hit = re && n > 0 && re.test(nm);
      if (hit) hits.push(it);
      var cls = "fr" + (it[3] ? " anc" : "") + (hit ? " hit" : ""), note = hiddenNote(n, g);
      html.push('<div class="' + cls + '" data-i="' + n + '" data-fn="' + (n > 0 ? g.func[n] : -1) + '" style="left:' + it[1].toFixed(1) + "px;width:" +
        Math.max(it[2] - 1, 0.5).toFixed(1) + "px;top:" + top + "px;background:" + frameColor(n, g, rg) + '">' +
        (it[2] > 24 ? esc(nm) + (note ? '<i> · ' + esc(note) + "</i>" : "") : "") + "</div>");
    });
    box.style.height = ((maxD + 1) * ROW + 2) + "px";
    box.innerHTML = html.join("");
    $("legend").innerHTML = legend(items, g, rg);
    $("wlabel").textContent = LABEL[S.w];
    $("unzoom").hidden = focus === 0;
    $("unfold").hidden = !nHidden;
    $("merge").hidden = !MERGED;
    $("merge").textContent = S.merge ? "One tree per process" : "Merge processes by function";
    $("unfold").textContent = S.unfold ? "Fold library frames" : "Show library frames";
    $("foldnote").textContent = nHidden ? (S.unfold ? "All frames shown." :
      nHidden + " library frames folded into the library call your code made.") : "";
    if (re) { // matched share: a hit inside another hit counts once
      var m = 0, inHit = {};
      hits.forEach(function (it) { inHit[it[0]] = 1; });
      hits.forEach(function (it) {
        for (var p = g.parent[it[0]]; p >= 0; p = g.parent[p]) if (inHit[p]) return;
        m += it[3] ? w[focus] : w[it[0]];
      });
      $("matched").textContent = "matched " + (w[focus] > 0 ? (100 * m / w[focus]).toFixed(1) : "0") + "%";
    } else $("matched").textContent = "";
    document.body.setAttribute("data-frames", items.length);
  }

  function tooltip(ev) {
    var el = ev.target.closest ? ev.target.closest(".fr") : null, tip = $("tip");
    if (!el) { tip.hidden = true; return; }
    var g = graph(), n = +el.getAttribute("data-i"), T = VG.tot, w = T[S.w], note = hiddenNote(n, g);
    var err = sampErr(T.n[n], T.n[0], T.e[0]), dens = T.cpu[n] > 0 ? T.e[n] / T.cpu[n] : NaN;
    tip.innerHTML = "<b>" + esc(name(n, g)) + "</b><div class='f'>" + esc(where(n, g)) + "</div>" +
      (note ? "<div class='f'>" + esc(note) + "</div>" : "") +
      fmt(T.e[n], "J") + " ± " + fmt(err, "J") + " · " + fmt(T.co2[n], "g") + " CO2eq<br>" +
      (isFinite(dens) ? fmt(dens, "W") + " while running" : "no CPU time") + " · " + fmt(T.cpu[n], "s") + " CPU<br>" +
      (w[0] > 0 ? (100 * w[n] / w[0]).toFixed(2) : "0") + "% of " + LABEL[S.w] + " · " + fmt(T.n[n], "") + " samples" +
      " · self " + fmt(VG.self.e[n], "J");
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) x = ev.clientX - tip.offsetWidth - 10;
    if (y + tip.offsetHeight > window.innerHeight - 8) y = ev.clientY - tip.offsetHeight - 10;
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }

  // ---- tables ---------------------------------------------------------------------------------
  var FCOLS = [["fn", "function", "l"], ["file", "file:line", "l"], ["selfE", "self J"], ["err", "±"], ["totE", "total J"],
    ["selfC", "self CO2eq"], ["totC", "total CO2eq"], ["selfU", "self CPU"], ["dens", "W while running"], ["selfN", "samples"]];
  function functionRows() {
    var nf = D.funcs.length, f, n, k;
    var z = function () { return new Float64Array(nf); };
    var sE = z(), sC = z(), sU = z(), sN = z(), tE = z(), tC = z(), tU = z(), tN = z(), on = new Int32Array(nf);
    for (n = 1; n < N; n++) { f = D.func[n]; sE[f] += V.self.e[n]; sC[f] += V.self.co2[n]; sU[f] += V.self.cpu[n]; sN[f] += V.self.n[n]; }
    var todo = kids[0].slice();
    while (todo.length) { // depth first; a negative entry leaves a node (recursion counts once)
      n = todo.pop();
      if (n < 0) { on[D.func[-n]]--; continue; }
      f = D.func[n];
      if (on[f] === 0) { tE[f] += V.tot.e[n]; tC[f] += V.tot.co2[n]; tU[f] += V.tot.cpu[n]; tN[f] += V.tot.n[n]; }
      on[f]++;
      todo.push(-n);
      for (k = 0; k < kids[n].length; k++) todo.push(kids[n][k]);
    }
    var rows = [], nT = V.tot.n[0], eT = V.tot.e[0];
    for (f = 0; f < nf; f++) {
      if (tN[f] <= 0 && tE[f] <= 0) continue;
      rows.push({ fn: D.funcs[f][0], file: D.funcs[f][1] + ":" + D.funcs[f][2], selfE: sE[f], err: sampErr(sN[f], nT, eT),
        totE: tE[f], selfC: sC[f], totC: tC[f], selfU: sU[f], dens: sU[f] > 0 ? sE[f] / sU[f] : 0, selfN: sN[f] });
    }
    return rows;
  }
  function drawFunctions() {
    var rows = functionRows(), key = S.sort, sg = S.asc ? 1 : -1;
    rows.sort(function (a, b) { return a[key] < b[key] ? -sg : a[key] > b[key] ? sg : 0; });
    var max = 0;
    rows.forEach(function (r) { max = Math.max(max, r.selfE); });
    var h = "<thead><tr>" + FCOLS.map(function (c) {
      return '<th data-k="' + c[0] + '" class="' + (c[2] || "") + (c[0] === key ? " on" + (S.asc ? " asc" : "") : "") + '">' + c[1] + "</th>";
    }).join("") + "</tr></thead><tbody>";
    rows.slice(0, 200).forEach(function (r) {
      h += '<tr data-fn="' + esc(r.fn) + '"><td class="fn" title="' + esc(r.fn) + '">' + esc(r.fn) + '</td><td class="file" title="' +
        esc(r.file) + '">\u200e' + esc(r.file) + "\u200e</td><td>" + '<span class="bar" style="width:' + (max > 0 ? 50 * r.selfE / max : 0).toFixed(0) +
        'px"></span>' + fmt(r.selfE, "J") + "</td><td>" + fmt(r.err, "J") + "</td><td>" + fmt(r.totE, "J") + "</td><td>" +
        fmt(r.selfC, "g") + "</td><td>" + fmt(r.totC, "g") + "</td><td>" + fmt(r.selfU, "s") + "</td><td>" +
        (r.dens > 0 ? fmt(r.dens, "W") : "–") + "</td><td>" + fmt(r.selfN, "") + "</td></tr>";
    });
    if (rows.length > 200) h += '<tr><td class="l muted" colspan="10">… ' + (rows.length - 200) + " more functions</td></tr>";
    $("functions").innerHTML = h + "</tbody>";
  }
  function drawThreads() {
    var nt = D.threads.length, e = new Float64Array(nt), c = new Float64Array(nt), u = new Float64Array(nt), m = new Float64Array(nt);
    for (var j = 0; j < R; j++) {
      if (S.t0 !== null) { var b = rBin[j]; if (!(D.bins[b + 1] > S.t0 && D.bins[b] < S.t1)) continue; }
      var t = rThread[j]; e[t] += rv.e[j]; c[t] += rv.co2[j]; u[t] += rv.cpu[j]; m[t] += rv.n[j];
    }
    var order = D.threads.map(function (_, k) { return k; }).sort(function (a, b) { return e[b] - e[a]; });
    var h = '<thead><tr><th class="l">thread</th><th>tid</th><th>energy</th><th>CO2eq</th><th>CPU time</th><th>W while running</th><th>samples</th></tr></thead><tbody>';
    order.forEach(function (k) {
      h += '<tr data-t="' + k + '"' + (S.thread === k ? ' class="on"' : "") + "><td>" + esc(D.threads[k].name) + "</td><td>" + D.threads[k].tid +
        "</td><td>" + fmt(e[k], "J") + "</td><td>" + fmt(c[k], "g") + "</td><td>" + fmt(u[k], "s") + "</td><td>" +
        (u[k] > 0 ? fmt(e[k] / u[k], "W") : "–") + "</td><td>" + fmt(m[k], "") + "</td></tr>";
    });
    $("threads").innerHTML = h + "</tbody>";
  }

  // ---- power timeline -------------------------------------------------------------------------
  var PAL = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e67700", "#0c8599"];
  var TL = { W: 0, H: 170, L: 46, B: 20 }, TOP = 26;
  function drawTimeline() {
    var box = $("timeline"), W = box.clientWidth || 1000, H = TL.H, L = TL.L, B = TL.B, dur = D.duration || 1;
    TL.W = W;
    var maxW = 0;
    D.timeline.forEach(function (d) { d.w.forEach(function (v) { maxW = Math.max(maxW, v); }); });
    // this process's attributed power per bin (selection's thread), as an area
    var nb = D.bins.length - 1, pb = new Float64Array(nb);
    for (var j = 0; j < R; j++) if (S.thread < 0 || rThread[j] === S.thread) pb[rBin[j]] += rv.e[j];
    // the process's joules are part of the machine's: an area above the machine would come only
    // from rounding or bins that straddle meter intervals, so it is drawn under the machine's power
    var mw = D.machine_w.length === nb ? D.machine_w : null;
    for (j = 0; j < nb; j++) {
      pb[j] /= (D.bins[j + 1] - D.bins[j]) || 1;
      if (mw) { pb[j] = Math.min(pb[j], mw[j]); maxW = Math.max(maxW, mw[j]); }
      maxW = Math.max(maxW, pb[j]);
    }
    maxW = maxW * 1.08 || 1;
    var X = function (t) { return L + (W - L - 8) * t / dur; }, Y = function (v) { return TOP + (H - B - TOP) * (1 - v / maxW); };
    var s = '<svg width="' + W + '" height="' + H + '" id="tlsvg">';
    for (var g = 0; g <= 4; g++) {
      var v = maxW * g / 4;
      s += '<line x1="' + L + '" x2="' + (W - 8) + '" y1="' + Y(v) + '" y2="' + Y(v) + '" stroke="#eee"/>' +
        '<text x="' + (L - 4) + '" y="' + (Y(v) + 4) + '" text-anchor="end">' + v.toPrecision(2) + " W</text>";
    }
    for (g = 0; g <= 8; g++) s += '<text x="' + X(dur * g / 8) + '" y="' + (H - 5) + '" text-anchor="' + (g === 0 ? "start" : g === 8 ? "end" : "middle") + '">' + (dur * g / 8).toPrecision(3) + " s</text>";
    // named regions: a band each, behind everything else, so the power can be read per phase
    var RPAL = ["#e7f5ff", "#ebfbee", "#fff4e6", "#f3f0ff", "#fff0f6", "#e6fcf5"], rnames = [];
    (D.regions || []).forEach(function (r) {
      var k = rnames.indexOf(r.name);
      if (k < 0) { k = rnames.length; rnames.push(r.name); }
      s += '<rect class="region" x="' + X(r.t0) + '" y="' + TOP + '" width="' + Math.max(X(r.t1) - X(r.t0), 1) + '" height="' +
        (H - B - TOP) + '" fill="' + RPAL[k % RPAL.length] + '"><title>region ' + esc(r.name) + ": " + r.t0.toFixed(3) +
        " s – " + r.t1.toFixed(3) + " s</title></rect>";
      if (X(r.t1) - X(r.t0) > 40) s += '<text class="rlabel" x="' + (X(r.t0) + 3) + '" y="' + (TOP + 11) + '">' + esc(r.name) + "</text>";
    });
    var area = "M" + X(D.bins[0]) + "," + Y(0);
    for (j = 0; j < nb; j++) area += "L" + X(D.bins[j]) + "," + Y(pb[j]) + "L" + X(D.bins[j + 1]) + "," + Y(pb[j]);
    s += '<path d="' + area + "L" + X(D.bins[nb]) + "," + Y(0) + 'Z" fill="#f3c58d" fill-opacity="0.55" class="proc"/>';
    var legend = '<tspan fill="#c77d1e">▆ this process (attributed)</tspan>';
    D.timeline.forEach(function (d, k) {
      var pts = d.t.map(function (t, q) { return X(t).toFixed(1) + "," + Y(d.w[q]).toFixed(1); }).join(" ");
      s += '<polyline class="pw" data-domain="' + esc(d.domain) + '" points="' + pts + '" fill="none" stroke="' + PAL[k % PAL.length] +
        '" stroke-width="1.4"' + (d.measured ? "" : ' stroke-dasharray="5,3"') + "/>";
      legend += '<tspan dx="14" fill="' + PAL[k % PAL.length] + '">' + (d.measured ? "━" : "┅") + " " + esc(d.domain) + " (" +
        (d.measured ? "measured" : "estimated") + ", " + esc(d.meter) + ")</tspan>";
    });
    if (mw && D.timeline.length > 1) { // the domains added up: what the process's area compares to
      var mpts = "";
      for (j = 0; j < nb; j++) mpts += X(D.bins[j]).toFixed(1) + "," + Y(mw[j]).toFixed(1) + " " + X(D.bins[j + 1]).toFixed(1) + "," + Y(mw[j]).toFixed(1) + " ";
      s += '<polyline class="machine" points="' + mpts + '" fill="none" stroke="#555" stroke-width="1"/>';
      legend += '<tspan dx="14" fill="#555">─ machine (domains added)</tspan>';
    }
    s += '<text x="' + (L + 2) + '" y="12">' + legend + "</text>";
    s += '<line class="axis" x1="' + L + '" x2="' + (W - 8) + '" y1="' + Y(0) + '" y2="' + Y(0) + '"/>';
    if (S.t0 !== null) s += '<rect class="sel" x="' + X(S.t0) + '" y="' + TOP + '" width="' + Math.max(X(S.t1) - X(S.t0), 1) + '" height="' + (H - B - TOP) + '"/>';
    s += '<rect id="brush" class="sel" x="0" y="' + TOP + '" width="0" height="' + (H - B - TOP) + '" visibility="hidden"/></svg>';
    box.innerHTML = s;
    $("range").hidden = S.t0 === null;
    if (S.t0 !== null) $("range").textContent = S.t0.toFixed(2) + " s – " + S.t1.toFixed(2) + " s";
  }
  function tAt(ev) {
    var r = $("tlsvg").getBoundingClientRect(), x = ev.clientX - r.left;
    return Math.min(Math.max((x - TL.L) / (TL.W - TL.L - 8), 0), 1) * (D.duration || 1);
  }
  var drag = null;
  $("timeline").addEventListener("mousedown", function (ev) { drag = { t: tAt(ev) }; ev.preventDefault(); });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var t = tAt(ev), b = $("brush"), x0 = TL.L + (TL.W - TL.L - 8) * Math.min(t, drag.t) / (D.duration || 1);
    b.setAttribute("visibility", "visible"); b.setAttribute("x", x0);
    b.setAttribute("width", (TL.W - TL.L - 8) * Math.abs(t - drag.t) / (D.duration || 1));
  });
  window.addEventListener("mouseup", function (ev) {
    if (!drag) return;
    var t = tAt(ev), a = Math.min(t, drag.t), b = Math.max(t, drag.t);
    drag = null;
    if (b - a > (D.duration || 1) / 500) { S.t0 = a; S.t1 = b; S.focus = 0; update(); } else drawTimeline();
  });
  $("timeline").addEventListener("dblclick", function () { S.t0 = S.t1 = null; update(); });

  // ---- wiring -----------------------------------------------------------------------------------
  function saveHash() {
    var h = [];
    if (S.t0 !== null) h.push("t=" + S.t0.toFixed(3) + "-" + S.t1.toFixed(3));
    if (S.thread >= 0) h.push("thread=" + D.threads[S.thread].tid);
    if (S.w !== "e") h.push("w=" + S.w);
    if (S.q) h.push("q=" + encodeURIComponent(S.q));
    if (S.icicle) h.push("icicle=1");
    if (S.left) h.push("left=1");
    if (S.unfold) h.push("unfold=1");
    if (S.merge) h.push("merge=1");
    try { history.replaceState(null, "", h.length ? "#" + h.join("&") : location.pathname + location.search); } catch (e) { /* file: in some browsers */ }
  }
  function loadHash() {
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var p = kv.split("="), k = p[0], v = decodeURIComponent(p.slice(1).join("="));
      if (k === "t") { var m = v.split("-"); S.t0 = +m[0]; S.t1 = +m[1]; if (!(S.t1 > S.t0)) S.t0 = S.t1 = null; }
      else if (k === "thread") D.threads.forEach(function (t, j) { if (String(t.tid) === v) S.thread = j; });
      else if (k === "w" && COLS.indexOf(v) >= 0) S.w = v;
      else if (k === "q") S.q = v;
      else if (k === "icicle") S.icicle = v === "1";
      else if (k === "left") S.left = v === "1";
      else if (k === "unfold") S.unfold = v === "1";
      else if (k === "merge") S.merge = v === "1";
    });
  }
  function update() {
    compute(); drawTimeline(); drawFlame(); drawFunctions(); drawThreads(); saveHash();
    $("thread").value = String(S.thread);
  }
  D.threads.forEach(function (t, j) {
    var o = document.createElement("option"); o.value = String(j); o.textContent = t.name + " (" + t.tid + ")"; $("thread").appendChild(o);
  });
  $("weight").onchange = function () { S.w = this.value; drawFlame(); saveHash(); };
  $("thread").onchange = function () { S.thread = +this.value; S.focus = 0; update(); };
  $("orient").onclick = function () { S.icicle = !S.icicle; this.textContent = S.icicle ? "Flame" : "Icicle"; drawFlame(); saveHash(); };
  $("leftheavy").onchange = function () { S.left = this.checked; drawFlame(); saveHash(); };
  $("search").oninput = function () { S.q = this.value; drawFlame(); saveHash(); };
  $("unzoom").onclick = function () { S.focus = 0; drawFlame(); };
  $("unfold").onclick = function () { S.unfold = !S.unfold; S.focus = 0; VG = graphValues(); drawFlame(); saveHash(); };
  $("merge").onclick = function () { S.merge = !S.merge; S.focus = 0; VG = graphValues(); drawFlame(); saveHash(); };
  $("flame").addEventListener("click", function (ev) {
    var el = ev.target.closest(".fr"); if (!el) return;
    S.focus = +el.getAttribute("data-i"); drawFlame();
  });
  $("flame").addEventListener("mousemove", tooltip);
  $("flame").addEventListener("mouseleave", function () { $("tip").hidden = true; });
  $("functions").addEventListener("click", function (ev) {
    var th = ev.target.closest("th");
    if (th) { var k = th.getAttribute("data-k"); S.asc = S.sort === k ? !S.asc : (k === "fn" || k === "file"); S.sort = k; drawFunctions(); return; }
    var tr = ev.target.closest("tr[data-fn]");
    if (tr) { S.q = "^" + tr.getAttribute("data-fn").replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$"; $("search").value = S.q; drawFlame(); saveHash(); $("view").scrollIntoView(); }
  });
  $("threads").addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr[data-t]"); if (!tr) return;
    var k = +tr.getAttribute("data-t"); S.thread = S.thread === k ? -1 : k; S.focus = 0; update();
  });
  // layout facts on <body>, for the browser tests and anyone checking the page: the page's width
  // against the window's, and where the widest frame of the user's hottest function is
  function layoutFacts() {
    var de = document.documentElement, selfF = {}, best = -1, n, f;
    for (n = 1; n < N; n++) { f = D.func[n]; if (D.funcs[f][3] === "user") selfF[f] = (selfF[f] || 0) + V.self.e[n]; }
    for (f in selfF) if (best < 0 || selfF[f] > selfF[best]) best = +f;
    var r = null;
    document.querySelectorAll('#flame .fr[data-fn="' + best + '"]').forEach(function (el) {
      var b = el.getBoundingClientRect();
      if (!r || b.width > r.width) r = b;
    });
    var b = document.body;
    b.setAttribute("data-doc-width", de.scrollWidth);
    b.setAttribute("data-view-width", window.innerWidth);
    b.setAttribute("data-view-height", window.innerHeight);
    b.setAttribute("data-top-user", best >= 0 ? D.funcs[best][0] : "");
    b.setAttribute("data-top-user-rect", r ? [r.left, r.top, r.right, r.bottom].map(Math.round).join(",") : "");
  }
  var resizeTimer;
  window.addEventListener("resize", function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(function () { drawTimeline(); drawFlame(); layoutFacts(); }, 100); });

  try {
    loadHash();
    $("weight").value = S.w; $("search").value = S.q; $("leftheavy").checked = S.left;
    $("orient").textContent = S.icicle ? "Flame" : "Icicle";
    var w0 = $("flame").clientWidth;
    update();
    if ($("flame").clientWidth !== w0) { drawTimeline(); drawFlame(); } // a scrollbar appeared
    layoutFacts();
    document.body.setAttribute("data-ready", errors.length ? "error" : "1");
  } catch (e) { fail(String(e && e.stack || e)); }
})();
