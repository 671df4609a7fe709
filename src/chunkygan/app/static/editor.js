// ChunkyGAN editor page: plain JavaScript on a 2D canvas. Every step is a request to the server, which
// holds the session (and its history); this file only draws, paints masks and sends requests.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const COLOURS = ["#ff5a5a", "#4fc3f7", "#9ccc65", "#ffca28", "#ba68c8", "#ff8a65", "#4db6ac", "#f06292",
  "#aed581", "#7986cb", "#ffd54f", "#90a4ae", "#e57373", "#64b5f6", "#81c784", "#ffb74d"];
const BRUSH_SIDE = 256; // resolution of the painted masks (the server resizes them to the generator's)
const $ = (id) => document.getElementById(id);

const canvas = $("canvas"), ctx = canvas.getContext("2d", {willReadFrequently: true});
const overlay = $("overlay"), octx = overlay.getContext("2d");
const brush = document.createElement("canvas");
brush.width = brush.height = BRUSH_SIDE;
const bctx = brush.getContext("2d", {willReadFrequently: true});

let state = null, selected = -1, picture = null, masks = [], painting = false, brushDirty = false;

function withToken(path) {
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
$("error-close").onclick = () => { $("error").hidden = true; };

async function api(path, body, opts = {}) {
  const init = {method: body === undefined ? "GET" : "POST", headers: {"X-Chunkygan-Token": TOKEN}, ...opts};
  if (body !== undefined && !(body instanceof Blob || body instanceof ArrayBuffer)) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (body !== undefined) {
    init.body = body;
  }
  const r = await fetch(path, init);
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    showError(msg);
    throw new Error(msg);
  }
  $("error").hidden = true;
  return r;
}

async function post(path, body, opts) {
  const data = await (await api(path, body || {}, opts)).json();
  if (data.state) await show(data.state);
  return data;
}

// ---- drawing ------------------------------------------------------------------------------------------
function currentView() { return document.querySelector("input[name=view]:checked").value; }

async function loadBitmap(path) {
  const r = await api(path);
  return await createImageBitmap(await r.blob());
}

async function drawPicture(view) {
  if (!state || !state.open) return;
  try {
    picture = await loadBitmap("/api/image?view=" + (view || currentView()) + "&t=" + Date.now());
  } catch (e) { return; }
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  $("drop-hint").hidden = true;
  document.body.dataset.drawn = Number(document.body.dataset.drawn || 0) + 1; // lets tests wait for a redraw
}

async function loadMasks() {
  masks = [];
  if (!state || !state.layers) return;
  for (let i = 0; i < state.layers.length; i++) {
    const bmp = await loadBitmap("/api/mask?layer=" + i + "&t=" + state.seq);
    masks.push(tint(bmp, COLOURS[i % COLOURS.length]));
  }
}

function tint(bitmap, colour) {
  // a mask bitmap (white = inside) as a coloured, alpha-weighted canvas
  const c = document.createElement("canvas");
  c.width = bitmap.width; c.height = bitmap.height;
  const x = c.getContext("2d");
  x.drawImage(bitmap, 0, 0);
  const img = x.getImageData(0, 0, c.width, c.height);
  const [r, g, b] = [1, 3, 5].map((k) => parseInt(colour.slice(k, k + 2), 16));
  for (let p = 0; p < img.data.length; p += 4) {
    const a = img.data[p];
    img.data[p] = r; img.data[p + 1] = g; img.data[p + 2] = b; img.data[p + 3] = a;
  }
  x.putImageData(img, 0, 0);
  return c;
}

function drawOverlay() {
  octx.clearRect(0, 0, overlay.width, overlay.height);
  if ($("show-masks").checked && state && state.layers) {
    state.layers.forEach((L, i) => {
      if (!L.visible || !masks[i]) return;
      octx.globalAlpha = i === selected ? 0.45 : 0.22;
      octx.imageSmoothingEnabled = true;
      octx.drawImage(masks[i], 0, 0, overlay.width, overlay.height);
    });
  }
  octx.globalAlpha = 0.55;
  octx.drawImage(brushTinted(), 0, 0, overlay.width, overlay.height);
  octx.globalAlpha = 1;
}

function brushTinted() {
  const c = document.createElement("canvas");
  c.width = c.height = BRUSH_SIDE;
  const x = c.getContext("2d");
  x.drawImage(brush, 0, 0);
  x.globalCompositeOperation = "source-in";
  x.fillStyle = brushTarget() === "correction" ? "#ff00ff" : "#ffffff";
  x.fillRect(0, 0, BRUSH_SIDE, BRUSH_SIDE);
  return c;
}

// ---- the brush ------------------------------------------------------------------------------------------
function brushTarget() { return document.querySelector("input[name=brush-target]:checked").value; }
function brushMode() { return document.querySelector("input[name=brush-mode]:checked").value; }

function dab(ev) {
  const rect = overlay.getBoundingClientRect();
  const x = (ev.clientX - rect.left) / rect.width * BRUSH_SIDE;
  const y = (ev.clientY - rect.top) / rect.height * BRUSH_SIDE;
  const radius = Number($("brush-size").value) / 2 * BRUSH_SIDE / overlay.width;
  const soft = Number($("brush-softness").value);
  const g = bctx.createRadialGradient(x, y, radius * (1 - soft), x, y, radius);
  g.addColorStop(0, "rgba(255,255,255,1)");
  g.addColorStop(1, "rgba(255,255,255,0)");
  bctx.globalCompositeOperation = brushMode() === "erase" ? "destination-out" : "source-over";
  bctx.fillStyle = g;
  bctx.beginPath();
  bctx.arc(x, y, radius, 0, 2 * Math.PI);
  bctx.fill();
  brushDirty = true;
  drawOverlay();
}

overlay.addEventListener("pointerdown", (ev) => { painting = true; overlay.setPointerCapture(ev.pointerId); dab(ev); });
overlay.addEventListener("pointermove", (ev) => { if (painting) dab(ev); });
overlay.addEventListener("pointerup", () => { painting = false; });
overlay.addEventListener("pointercancel", () => { painting = false; });

function clearBrush() {
  bctx.globalCompositeOperation = "source-over";
  bctx.clearRect(0, 0, BRUSH_SIDE, BRUSH_SIDE);
  brushDirty = false;
  drawOverlay();
}

function brushPNG() {
  // white-on-black PNG of the painted mask (its luminance is the mask)
  if (!brushDirty) throw new Error("paint on the picture first");
  const c = document.createElement("canvas");
  c.width = c.height = BRUSH_SIDE;
  const x = c.getContext("2d");
  x.fillStyle = "#000";
  x.fillRect(0, 0, BRUSH_SIDE, BRUSH_SIDE);
  x.drawImage(brush, 0, 0);
  return c.toDataURL("image/png");
}

function needBrush() {
  try { return brushPNG(); } catch (e) { showError(e.message); throw e; }
}

$("clear-brush").onclick = clearBrush;
document.querySelectorAll("input[name=brush-target]").forEach((r) => r.addEventListener("change", drawOverlay));
$("add-region").onclick = async () => {
  await post("/api/region", {mask: needBrush()});
  selected = state.layers.length - 1;
  clearBrush();
  renderLayers();
};
$("load-mask").onclick = async () => {
  if (selected < 0) return showError("select a layer first");
  const bmp = await loadBitmap("/api/mask?layer=" + selected + "&t=" + Date.now());
  clearBrush();
  bctx.drawImage(tint(bmp, "#ffffff"), 0, 0, BRUSH_SIDE, BRUSH_SIDE);
  brushDirty = true;
  drawOverlay();
};
$("apply-mask").onclick = async () => {
  if (selected < 0) return showError("select a layer first");
  await post("/api/layer", {layer: selected, mask: needBrush()});
  clearBrush();
};

// ---- jobs: projection, automatic projection, hole filling --------------------------------------------------
function steps() { return Number($("project-steps").value) || 100; }
$("project").onclick = () => {
  if (selected < 0) return showError("select (or add) a region first");
  post("/api/project", {layer: selected, steps: steps()});
};
$("auto").onclick = () => post("/api/auto", {segments: Number($("auto-k").value) || 4, steps: steps(),
  masks: $("auto-masks").value});
$("fill").onclick = () => {
  if (selected < 0) return showError("select the layer whose edit spilled over first");
  if (brushTarget() !== "correction") return showError("choose 'Correction mask' in the brush panel and paint the hole");
  post("/api/fill", {layer: selected, steps: steps(), mask: needBrush()}).then(clearBrush);
};
$("cancel").onclick = () => post("/api/cancel");

function showJob(job) {
  const box = $("progress-box");
  if (!job) { box.hidden = true; return; }
  if (job.status === "running") {
    box.hidden = false;
    $("progress-bar").value = job.steps ? job.step / job.steps : 0;
    $("progress").textContent = `${job.kind}: step ${job.step}/${job.steps}` +
      (job.loss !== null ? ` · loss ${job.loss.toFixed(4)}` : "");
  } else {
    box.hidden = true;
    $("job-message").textContent = job.message;
    if (job.status === "failed") showError(job.message);
  }
}

// ---- layers ---------------------------------------------------------------------------------------------------
function renderLayers() {
  const ul = $("layers");
  ul.textContent = "";
  (state.layers || []).forEach((L, i) => {
    const li = document.createElement("li");
    li.className = i === selected ? "selected" : "";
    li.dataset.index = i;
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = COLOURS[i % COLOURS.length];
    const vis = document.createElement("input");
    vis.type = "checkbox"; vis.checked = L.visible; vis.title = "visible";
    vis.onclick = (ev) => { ev.stopPropagation(); post("/api/layer", {layer: i, visible: vis.checked}); };
    const name = document.createElement("input");
    name.className = "name"; name.value = L.name;
    name.onchange = () => post("/api/layer", {layer: i, name: name.value});
    name.onclick = (ev) => ev.stopPropagation();
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = (L.projected ? L.space : "not projected") + (L.blend === "poisson" ? " · poisson" : "") +
      (L.edits.length ? " · " + L.edits.map((e) => `${e.direction} ${e.strength}`).join(", ") : "");
    li.append(sw, vis, name, tag);
    li.onclick = () => { selected = i; renderLayers(); renderSliders(); drawOverlay(); };
    ul.append(li);
  });
  const L = state.layers && state.layers[selected];
  $("poisson").checked = !!L && L.blend === "poisson";
}
$("poisson").onchange = () => {
  if (selected < 0) return showError("select a layer first");
  post("/api/layer", {layer: selected, blend: $("poisson").checked ? "poisson" : "alpha"});
};
$("apply-feather").onclick = () => {
  if (selected < 0) return showError("select a layer first");
  post("/api/layer", {layer: selected, feather: Number($("feather").value)});
};
$("remove-layer").onclick = () => {
  if (selected < 0) return showError("select a layer first");
  post("/api/remove", {layer: selected}).then(() => { selected = Math.min(selected, state.layers.length - 1); });
};

// ---- directions -----------------------------------------------------------------------------------------------
function layerRange() {
  const a = $("wplus-from").value, b = $("wplus-to").value;
  if (b === "" || (Number(a) === 0 && Number(b) === state.num_ws - 1)) return null;
  return `${a}-${b}`;
}

// while a slider is dragged: previews of the edit (no history step), one request in flight at a time
let previewBusy = false, previewNext = null;
function dragPreview(name, input) {
  if (selected < 0 && $("edit-target").value !== "all") return;
  previewNext = {direction: name, strength: Number(input.value), layers: layerRange(),
    target: $("edit-target").value === "all" ? "all" : [selected]};
  if (previewBusy) return;
  (async () => {
    previewBusy = true;
    while (previewNext) {
      const body = previewNext;
      previewNext = null;
      try {
        const r = await fetch("/api/preview-edit", {method: "POST", body: JSON.stringify(body),
          headers: {"X-Chunkygan-Token": TOKEN, "Content-Type": "application/json"}});
        if (!r.ok) break; // e.g. busy with a projection: the release (change) will report it
        ctx.drawImage(await createImageBitmap(await r.blob()), 0, 0, canvas.width, canvas.height);
      } catch (e) { break; }
    }
    previewBusy = false;
  })();
}

function renderSliders() {
  const box = $("sliders");
  const L = state.layers && state.layers[selected];
  const current = {};
  if (L) L.edits.forEach((e) => { current[e.direction] = e.strength; });
  if (box.dataset.generator !== state.generator) {
    box.textContent = "";
    box.dataset.generator = state.generator;
    state.directions.forEach((d) => {
      const row = document.createElement("label");
      row.className = "slider";
      row.title = d.description || d.name;
      const name = document.createElement("span");
      name.textContent = d.name;
      const input = document.createElement("input");
      input.type = "range"; input.min = d.range[0]; input.max = d.range[1]; input.step = 0.05; input.value = 0;
      input.dataset.direction = d.name;
      const value = document.createElement("span");
      value.className = "value"; value.textContent = "0";
      input.oninput = () => { value.textContent = Number(input.value).toFixed(2); dragPreview(d.name, input); };
      input.onchange = () => {
        const target = $("edit-target").value === "all" ? "all" : [selected];
        if (target !== "all" && selected < 0) return showError("select a projected layer, or edit all layers");
        post("/api/edit", {direction: d.name, strength: Number(input.value), target, layers: layerRange()});
      };
      row.append(name, input, value);
      box.append(row);
    });
  }
  box.querySelectorAll("input[type=range]").forEach((input) => {
    const v = current[input.dataset.direction] || 0;
    input.value = v;
    input.nextSibling.textContent = Number(v).toFixed(2);
  });
}

$("s-apply").onclick = () => {
  if (selected < 0) return showError("select a projected layer first");
  post("/api/channel", {layer: selected, style_layer: Number($("s-layer").value),
    channel: Number($("s-channel").value), strength: Number($("s-strength").value)});
};

// ---- history & session ------------------------------------------------------------------------------------------
function renderHistory() {
  const ol = $("history");
  ol.textContent = "";
  (state.history || []).forEach((label, i) => {
    const li = document.createElement("li");
    li.textContent = label;
    li.className = i === state.position ? "current" : i > state.position ? "future" : "";
    ol.append(li);
  });
  $("undo").disabled = !state.can_undo;
  $("redo").disabled = !state.can_redo;
}
$("undo").onclick = () => post("/api/undo");
$("redo").onclick = () => post("/api/redo");
document.addEventListener("keydown", (ev) => { // Ctrl+Z undo, Ctrl+Y / Ctrl+Shift+Z redo (not while typing)
  if (!(ev.ctrlKey || ev.metaKey) || ["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName)) return;
  const key = ev.key.toLowerCase();
  if (key === "z" && !ev.shiftKey && state && state.can_undo) { ev.preventDefault(); post("/api/undo"); }
  if ((key === "y" || (key === "z" && ev.shiftKey)) && state && state.can_redo) { ev.preventDefault(); post("/api/redo"); }
});
$("commit").onclick = () => post("/api/commit").then(() => { selected = -1; });
$("save").onclick = () => post("/api/save", {folder: $("folder").value || null})
  .then((d) => { $("job-message").textContent = "saved to " + d.folder; });
$("load").onclick = () => post("/api/load", {folder: $("folder").value});

async function download(path, filename) {
  const r = await api(path);
  const note = r.headers.get("X-Chunkygan-Note");
  if (note) $("job-message").textContent = "exported: " + note;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}
$("export-png").onclick = () => download("/api/export.png", "chunkygan-edit.png");
$("export-zip").onclick = () => download("/api/export.zip", "chunkygan-session.zip");

// ---- opening a photo ------------------------------------------------------------------------------------------
async function openFile(file) {
  if (!file) return;
  $("note").textContent = "opening " + file.name + "…";
  try {
    await post("/api/open", file, {headers: {"X-Chunkygan-Token": TOKEN, "X-Filename": file.name}});
  } catch (e) {
    $("note").textContent = state && state.note ? state.note : "open a photo to start";
    return;
  }
  selected = -1;
  clearBrush();
}
$("photo-input").onchange = (ev) => openFile(ev.target.files[0]);
const box = $("canvas-box");
box.addEventListener("dragover", (ev) => { ev.preventDefault(); box.classList.add("dragging"); });
box.addEventListener("dragleave", () => box.classList.remove("dragging"));
box.addEventListener("drop", (ev) => {
  ev.preventDefault();
  box.classList.remove("dragging");
  openFile(ev.dataTransfer.files[0]);
});

// ---- state ----------------------------------------------------------------------------------------------------------
let shownSeq = -1;
async function show(st) {
  state = st;
  $("note").textContent = st.note || "";
  $("session-dir").textContent = st.session_dir ? "saved after every step to: " + st.session_dir : "";
  if (!st.open) return;
  if (selected >= (st.layers || []).length) selected = st.layers.length - 1;
  renderLayers();
  renderSliders();
  renderHistory();
  showJob(st.job && st.job.status === "running" ? st.job : null);
  if (!st.busy && st.seq !== shownSeq) {
    shownSeq = st.seq;
    await Promise.all([drawPicture(), loadMasks()]);
    drawOverlay();
    document.body.dataset.seq = st.seq; // lets tests wait for the picture of a state
  }
}
async function refresh() { await show(await (await api("/api/state")).json()); }
document.querySelectorAll("input[name=view]").forEach((r) => r.addEventListener("change", () => drawPicture()));
$("show-masks").onchange = drawOverlay;

// live progress: server-sent events
function listen() {
  const es = new EventSource(withToken("/api/events?since=" + (state ? state.seq : 0)));
  es.onmessage = async (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "progress") showJob(ev.job);
    else if (ev.type === "preview") {
      showJob(ev.job);
      try {
        const bmp = await loadBitmap("/api/image?view=preview&t=" + ev.seq);
        ctx.drawImage(bmp, 0, 0, canvas.width, canvas.height);
      } catch (e) { /* the next one comes soon */ }
    } else if (ev.type === "job") {
      showJob(ev.job);
    } else if (ev.type === "state") {
      refresh();
    } else if (ev.type === "error") {
      showError(ev.message);
    }
  };
}

refresh().then(listen);
