// The browser side of vts.app.plot_view.PlotView (anywidget ESM); see that module.
function loadPlotly(model) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  const src = model.get("plotly_js");
  if (src && !window.__vtsPlotly) {
    window.__vtsPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script"), amd = window.define;
      window.define = undefined;               // plotly.js is UMD: make it set window.Plotly
      script.src = URL.createObjectURL(new Blob([src], {type: "text/javascript"}));
      script.onload = () => { window.define = amd; resolve(window.Plotly); };
      script.onerror = () => { window.define = amd; reject(new Error("plotly.js failed")); };
      document.head.appendChild(script);
    });
  }
  if (window.__vtsPlotly) return window.__vtsPlotly;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const poll = () => {
      if (window.__vtsPlotly) return window.__vtsPlotly.then(resolve, reject);
      if (performance.now() - t0 > 120000) return reject(new Error("no plotly.js"));
      setTimeout(poll, 50);
    };
    poll();
  });
}
function floats(dv) {
  if (!dv || !dv.byteLength) return new Float32Array(0);
  return new Float32Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}
function onFrame(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}
function fastLine(div, trace, y) {
  // rewrite a drawn line trace's SVG path for new y values (same x): no replot
  const full = div._fullLayout, data = div._fullData && div._fullData[trace];
  const traces = div.querySelectorAll(".scatterlayer .trace");
  const path = traces[trace] && traces[trace].querySelector("path.js-line");
  if (!full || !data || !path || !data.x || data.x.length !== y.length) return false;
  const xa = full.xaxis, ya = full.yaxis;
  let d = "";
  for (let i = 0; i < y.length; i++) {
    d += (i ? "L" : "M") + xa.c2p(xa.d2c(data.x[i])).toFixed(2) + ","
       + ya.c2p(ya.d2c(y[i])).toFixed(2);
  }
  path.setAttribute("d", d);
  div.data[trace].y = y;
  return true;
}
function afterPaint(fn, gap) {
  // after the next paint (the spectrum goes first), at most once per `gap` ms, latest state:
  // a 3-D redraw is the slowest thing on the page (software WebGL: ~100 ms)
  let queued = false, last = 0;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => setTimeout(() => {
      setTimeout(() => { queued = false; last = performance.now(); fn(); },
                 Math.max(0, last + gap - performance.now()));
    }, 0));
  };
}
async function render({ model, el }) {
  const div = document.createElement("div");
  div.style.width = "100%";
  div.className = "vts-plot vts-" + model.get("kind");
  div.textContent = "loading plotly.js ...";
  el.appendChild(div);
  let P;
  try { P = await loadPlotly(model); } catch (e) { div.textContent = String(e); return; }
  div.textContent = "";
  const fig = model.get("figure"), dyn = model.get("dynamic");
  await P.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
  const n = () => model.get("n_bins");
  const pathRow = (k) => Array.from(floats(model.get("path_db")).subarray(k * n(), (k + 1) * n()));
  const drawn = () => {
    div.dataset.drawn = String(performance.now());
    div.dataset.draws = String(Number(div.dataset.draws || 0) + 1);
  };
  const handlers = {};
  if ("line" in dyn) {
    // at once, what the eye waits for: the line's SVG path is rewritten in place (~1 ms);
    // plotly's own redraw (~50 ms here) follows once the updates pause (hover, data)
    let settle = null;
    const full = () => P.restyle(div, {y: [Array.from(floats(model.get("spectrum")))]},
                                 [dyn.line]);
    handlers["change:spectrum"] = () => {
      div.dataset.received = String(performance.now());
      const y = Array.from(floats(model.get("spectrum")));
      if (!fastLine(div, dyn.line, y)) full();
      drawn();
      clearTimeout(settle);
      settle = setTimeout(full, 300);
    };
  }
  if ("step_line" in dyn) handlers["change:path_step"] = onFrame(() => {
    const k = model.get("path_step");
    if (k < 0) return;
    P.restyle(div, {y: [pathRow(k)], visible: true, name: "path step " + (k + 1)},
              [dyn.step_line]);
  });
  if ("heat" in dyn) {
    handlers["change:path_db"] = onFrame(() => {
      const steps = model.get("path_times").length, flat = floats(model.get("path_db"));
      if (!flat.length) return;
      const z = [];
      for (let b = 0; b < n(); b++) {
        const row = new Array(steps);
        for (let k = 0; k < steps; k++) row[k] = flat[k * n() + b];
        z.push(row);
      }
      P.restyle(div, {z: [z], x: [model.get("path_times")]}, [dyn.heat]);
      P.relayout(div, {"title.text": model.get("title")});
    });
    handlers["change:path_step"] = onFrame(() => {
      const t = model.get("path_times")[Math.max(0, model.get("path_step"))];
      P.restyle(div, {x: [[t, t]]}, [dyn.heat_cursor]);
    });
  }
  if ("cursor" in dyn) {
    handlers["change:cursor"] = afterPaint(() => {
      const c = model.get("cursor");
      P.restyle(div, {x: [[c[0]]], y: [[c[1]]], z: [[c[2]]]}, [dyn.cursor]);
    }, 100);
    handlers["change:path_xyz"] = afterPaint(() => {
      const p = model.get("path_xyz");
      P.restyle(div, {x: [p.map(q => q[0])], y: [p.map(q => q[1])], z: [p.map(q => q[2])]},
                [dyn.path]);
    }, 0);
    handlers["change:path_step"] = afterPaint(() => {
      const p = model.get("path_xyz"), k = model.get("path_step");
      if (k < 0 || !p.length) return;
      P.restyle(div, {x: [[p[k][0]]], y: [[p[k][1]]], z: [[p[k][2]]]}, [dyn.step_marker]);
    }, 100);
  }
  for (const [name, fn] of Object.entries(handlers)) { model.on(name, fn); fn(); }
  const resize = onFrame(() => P.Plots.resize(div));
  const observer = new ResizeObserver(resize);
  observer.observe(el);
  return () => {
    for (const [name, fn] of Object.entries(handlers)) model.off(name, fn);
    observer.disconnect();
    P.purge(div);
  };
}
export default { render };
