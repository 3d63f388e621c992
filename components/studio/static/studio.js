// edge-labeler studio: plain JavaScript, no build step, nothing loaded from the network.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { overview: null, dataset: null, labelDataset: null, model: null, threshold: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces a node's children; arrays (of rows, cards…) are flattened, as el() does.
function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat(Infinity)) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function fmt(value) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(3);
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options = {}) {
  const init = { ...options };
  if (init.method === "POST") init.headers = { "X-Edge-Studio": "1", ...(init.headers || {}) };
  const response = await fetch(`/api/${path}`, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function imageUrl(dataset, name) {
  return `/api/image/${encodeURIComponent(dataset)}?name=${encodeURIComponent(name)}`;
}

function picker(container, names, current, choose) {
  fill(container, ...names.map((name) =>
      el("button", { type: "button", class: name === current ? "active" : "", "data-name": name,
        onclick: () => choose(name) }, name)));
  if (!names.length) container.append(el("span", { class: "muted" }, "none"));
}

// -- pages ----------------------------------------------------------------------------------

const pages = { datasets: showDatasets, label: showLabel, evaluate: showEvaluate, test: showTest };

async function route() {
  const page = (location.hash || "#datasets").slice(1);
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.page === page);
  }
  for (const section of document.querySelectorAll(".page")) {
    section.hidden = section.id !== `page-${page}`;
  }
  showError("");
  try {
    if (!state.overview) {
      state.overview = await api("overview");
      const o = state.overview;
      $("where").textContent = `project ${o.project} · specs ${o.specs}` +
        (o.stack ? ` · stack ${o.stack}` : "") + (o.rehearsal ? ` · rehearsal ${o.rehearsal}` : "");
    }
    await (pages[page] || showDatasets)();
  } catch (err) {
    showError(err.message);
  }
}

// -- Datasets -------------------------------------------------------------------------------

async function showDatasets() {
  const names = state.overview.datasets.map((d) => d.name);
  state.dataset = state.dataset || names[0];
  picker($("dataset-picker"), names, state.dataset, (n) => { state.dataset = n; showDatasets(); });
  if (!state.dataset) return;
  const box = $("dataset");
  fill(box, el("p", { class: "muted" }, "reading and checking the images…"));
  const d = await api(`datasets/${encodeURIComponent(state.dataset)}`);
  const splits = d.splits.filter((s) => s !== "—" || d.labels.some((l) => d.counts[l]["—"]));
  const counts = el("table", { id: "counts" },
    el("tr", {}, el("th", {}, "label"), splits.map((s) => el("th", {}, s)), el("th", {}, "total")),
    d.labels.map((label) => {
      const c = d.counts[label] || {};
      const total = splits.reduce((n, s) => n + (c[s] || 0), 0);
      return el("tr", { "data-label": label }, el("td", { class: "name" }, label),
        splits.map((s) => el("td", {}, c[s] || 0)), el("td", {}, total));
    }));
  const sheets = d.labels.map((label) =>
    el("div", { class: "sheet" }, el("h3", {}, `${label} `,
      el("span", { class: "muted" }, `(first ${d.contactSheet[label].length})`)),
    el("div", { class: "grid small" }, d.contactSheet[label].map((name) =>
      el("div", { class: "card", title: name },
        el("img", { src: imageUrl(d.name, name), alt: name }),
        el("div", { class: "name" }, name.split("/").pop()))))));
  const refused = d.refused.length
    ? el("table", { id: "refused" }, el("tr", {}, el("th", {}, "image"), el("th", {}, "rule"),
        el("th", {}, "why")), d.refused.map((r) => el("tr", {}, el("td", { class: "name" }, r.where),
        el("td", { class: "name" }, r.rule), el("td", { class: "name" }, r.why))))
    : el("p", { class: "muted" }, "The checks refuse no image.");
  const duplicates = d.duplicates.length
    ? el("ul", { id: "duplicates" }, d.duplicates.map((dup) => el("li", {},
        dup.files.map((f) => `${f.name} (${f.labels.join(", ") || "no label"})`).join("  =  "))))
    : el("p", { class: "muted" }, "No image appears under two different labels.");
  fill(box, el("p", {}, `${d.classification}, ${d.sourceKind} source ${d.source}` +
      (d.labelsFile ? `, labels file ${d.labelsFile}` : "") + `: ${d.images} images` +
      (d.unlabeled ? `, ${d.unlabeled} unlabeled` : "") + "."),
    el("p", { class: "muted" }, d.fingerprint ? `fingerprint ${d.fingerprint}`
      : "The dataset fails its rules: no split is assigned (—) until the problems below are fixed."),
    el("h2", {}, "Images per label and split"), counts,
    d.warnings.length ? el("ul", { class: "muted" }, d.warnings.map((w) => el("li", {}, w))) : "",
    el("h2", {}, "Refused by the checks"), refused,
    el("h2", {}, "Duplicates across labels"), duplicates,
    el("h2", {}, "Contact sheet"), sheets);
}

// -- Label ----------------------------------------------------------------------------------

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
const labeling = { images: [], labels: [], assigned: {}, selected: 0, multilabel: false };

async function showLabel() {
  const names = state.overview.datasets.filter((d) => d.labelable).map((d) => d.name);
  state.labelDataset = state.labelDataset || names[0];
  picker($("label-picker"), names, state.labelDataset,
    (n) => { state.labelDataset = n; showLabel(); });
  if (!state.labelDataset) {
    $("label-help").textContent = "No dataset has an `images` source with a `labels` file.";
    return;
  }
  const u = await api(`datasets/${encodeURIComponent(state.labelDataset)}/unlabeled`);
  Object.assign(labeling, { images: u.images, labels: u.labels, assigned: {}, selected: 0,
    multilabel: u.classification === "multilabel", file: u.labelsFile });
  $("label-help").textContent = `${u.images.length} unlabeled images of ${u.dataset} ` +
    `(${u.classification}). Arrow keys move; a number key ` +
    (labeling.multilabel ? "toggles" : "sets") + " a label; Backspace clears; Enter saves " +
    `the labels to ${u.labelsFile}.`;
  renderLabelKeys();
  $("label-added").hidden = true;
  buildLabelGrid();
  $("label-grid").focus();
}

function renderLabelKeys() {
  fill($("label-keys"), ...labeling.labels.slice(0, KEYS.length).map((label, i) =>
    el("span", {}, el("kbd", {}, KEYS[i]), ` ${label}`)));
}

function addLabel(event) {
  event.preventDefault();
  const input = $("label-new-name");
  const name = input.value.trim();
  if (/^[A-Za-z0-9_]{1,32}$/.test(name) && !labeling.labels.includes(name)) {
    labeling.labels.push(name);
    renderLabelKeys();
  }
  input.value = "";
  $("label-grid").focus();
}

function buildLabelGrid() {
  fill($("label-grid"), ...labeling.images.map((name, i) =>
    el("div", { class: "card", "data-name": name, onclick: () => select(i) },
      el("img", { src: imageUrl(state.labelDataset, name), alt: name }),
      el("div", { class: "assigned" }),
      el("div", { class: "name" }, name))));
  renderLabelGrid();
}

function renderLabelGrid() {
  // The cards stay (their images load once); only their marks change.
  [...$("label-grid").children].forEach((card, i) => {
    const assigned = labeling.assigned[card.dataset.name] || [];
    card.classList.toggle("selected", i === labeling.selected);
    card.classList.toggle("labeled", assigned.length > 0);
    card.querySelector(".assigned").textContent = assigned.join(", ");
  });
  const n = Object.values(labeling.assigned).filter((l) => l.length).length;
  $("label-status").textContent = `${n} labeled, not saved yet`;
  $("label-save").disabled = n === 0;
}

function select(i) {
  labeling.selected = Math.max(0, Math.min(labeling.images.length - 1, i));
  renderLabelGrid();
  const card = $("label-grid").children[labeling.selected];
  if (card) card.scrollIntoView({ block: "nearest" });
}

function perRow() {
  const cards = $("label-grid").children;
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  let n = 0;
  while (n < cards.length && cards[n].offsetTop === top) n += 1;
  return Math.max(1, n);
}

function onLabelKey(event) {
  if ($("page-label").hidden || !labeling.images.length) return;
  if (event.target instanceof HTMLInputElement) return;  // typing a new label
  const name = labeling.images[labeling.selected];
  const index = KEYS.indexOf(event.key);
  if (index >= 0 && index < labeling.labels.length) {
    const label = labeling.labels[index];
    const current = labeling.assigned[name] || [];
    if (labeling.multilabel) {
      labeling.assigned[name] = current.includes(label)
        ? current.filter((l) => l !== label) : [...current, label];
      renderLabelGrid();
    } else {
      labeling.assigned[name] = [label];
      select(labeling.selected + 1);  // the next image, as a labeler expects
    }
  } else if (event.key === "ArrowRight") select(labeling.selected + 1);
  else if (event.key === "ArrowLeft") select(labeling.selected - 1);
  else if (event.key === "ArrowDown") select(labeling.selected + perRow());
  else if (event.key === "ArrowUp") select(labeling.selected - perRow());
  else if (event.key === "Backspace") { delete labeling.assigned[name]; renderLabelGrid(); }
  else if (event.key === "Enter") saveLabels();
  else return;
  event.preventDefault();
}

async function saveLabels() {
  const labels = Object.fromEntries(
    Object.entries(labeling.assigned).filter(([, l]) => l.length));
  if (!Object.keys(labels).length) return;
  try {
    const result = await api(`datasets/${encodeURIComponent(state.labelDataset)}/labels`,
      { method: "POST", body: JSON.stringify({ labels }) });
    labeling.images = labeling.images.filter((name) => !(name in labels));
    labeling.assigned = {};
    labeling.selected = 0;
    buildLabelGrid();
    $("label-status").textContent = `saved: ${result.added.length} rows added to ${result.file}`;
    $("label-help").textContent = `${labeling.images.length} unlabeled images left.`;
    $("label-status").dataset.saved = String(result.added.length);
    const added = $("label-added");
    added.textContent = result.added.map((line) => `+ ${line}`).join("");
    added.hidden = false;
  } catch (err) {
    showError(err.message);
  }
}

// -- Evaluate -------------------------------------------------------------------------------

function evaluatedModels() {
  return state.overview.models.filter((m) => m.evaluated).map((m) => m.name);
}

async function chooseModel(name) {
  state.model = name;
  state.summary = await api(`models/${encodeURIComponent(name)}`);
  if (state.threshold === null || state.thresholdModel !== name) {
    state.threshold = state.summary.gate.threshold ?? 0.5;
    state.thresholdModel = name;
  }
}

async function showEvaluate() {
  const names = evaluatedModels();
  if (!names.length) {
    $("gate").textContent = state.overview.rehearsal
      ? "The rehearsal kept no evaluated model."
      : "No evaluation: run `edgectl rehearse --out DIR`, then `edgectl studio --rehearsal DIR`.";
    return;
  }
  if (!state.model) await chooseModel(names[0]);
  picker($("evaluate-picker"), names, state.model,
    async (n) => { await chooseModel(n); showEvaluate(); });
  const s = state.summary;
  const g = s.gate;
  $("gate").className = `gate ${g.passed ? "passed" : "failed"}`;
  fill($("gate"), el("strong", {}, g.passed ? "✓ the gate passes" : "✗ the gate fails"),
    ` with its policy ${g.policy}` +
      (g.threshold !== null ? `: threshold ${g.threshold} (marked ▲ on the slider's curve)` : ""),
    g.failures.length ? el("ul", {}, g.failures.map((f) => el("li", {}, f))) : "");
  const slider = $("threshold");
  slider.value = state.threshold;
  $("threshold-diff").hidden = true;
  await updateThreshold();
}

let pending = 0;
async function updateThreshold() {
  const t = Number(Number($("threshold").value).toFixed(2));
  state.threshold = t;
  $("threshold-value").textContent = t.toFixed(2);
  const ticket = ++pending;
  const name = encodeURIComponent(state.model);
  const [at, images] = await Promise.all([
    api(`models/${name}/at?threshold=${t}`),
    // Per-image views need the exported model (none when the gate failed: nothing exported).
    state.summary.canPredict ? api(`models/${name}/images?threshold=${t}`) : null,
  ]);
  if (ticket !== pending) return;  // the slider has moved on
  renderMetrics(at);
  if (images) renderImages(images);
  else {
    $("confusion-note").textContent = "No TF Lite export was kept (the model failed its gate, " +
      "so nothing was exported): the confusion matrix and the images need the exported model.";
  }
  drawCurve(t);
  // Set last: tests wait for this attribute to name the threshold they moved to.
  $("overall").dataset.threshold = t.toFixed(2);
}

function renderMetrics(at) {
  $("overall-at").textContent = `at ${at.threshold.toFixed(2)}`;
  $("per-label-at").textContent = `at ${at.threshold.toFixed(2)}, one-vs-rest`;
  $("overall-precision").textContent = fmt(at.precision);
  $("overall-recall").textContent = fmt(at.recall);
  $("overall-f1").textContent = fmt(at.f1);
  $("overall-auprc").textContent = fmt(at.auPrc);
  $("measured").textContent = `At threshold ${at.threshold.toFixed(2)}: the evaluation's ` +
    `metrics at its point ${at.measuredAt.toFixed(2)} (the greatest evaluated threshold not ` +
    "above it, as the gate reads them), TEST split. Overall counts every (image, label) " +
    `pair scoring at least the threshold: TP ${at.truePositives}, FP ${at.falsePositives}, ` +
    `FN ${at.falseNegatives}. Per label: one-vs-rest.`;
  const m = at.minimaAtThreshold;
  fill($("minima"), el("span", { class: m.passed ? "good" : "bad" },
    m.passed ? "The gate's minima hold at this threshold."
      : `At this threshold the gate would fail: ${m.failures.join("; ")}`));
  fill($("per-label"), el("tr", {}, ["label", "precision", "recall", "F1", "TP", "FP", "FN"].map((h) => el("th", {}, h))),
    at.perLabel.map((r) => el("tr", { "data-label": r.label },
      el("td", { class: "name" }, r.label),
      el("td", { class: "precision" }, fmt(r.precision)),
      el("td", { class: "recall" }, fmt(r.recall)),
      el("td", { class: "f1" }, fmt(r.f1)),
      el("td", {}, r.truePositives), el("td", {}, r.falsePositives), el("td", {}, r.falseNegatives))));
}

function thumbCard(item, kind) {
  const dataset = state.summary.dataset;
  return el("div", { class: "card", title: item.name },
    el("img", { src: imageUrl(dataset, item.name), alt: item.name }),
    el("div", { class: kind === "fp" ? "bad" : "" },
      kind === "fp" ? `${item.label} ${item.score.toFixed(2)}` : `missed ${item.label} ${item.score.toFixed(2)}`),
    el("div", { class: "name" }, `is ${item.truth.join(", ")}`));
}

function renderImages(r) {
  $("confusion-note").textContent = `Rows: the true label; columns: the highest-scoring label ` +
    `when its score is at least ${r.threshold.toFixed(2)}, else "${r.columns[r.columns.length - 1]}". ` +
    "From the exported model's scores on each TEST image (the prediction code of `edgectl predict`).";
  fill($("confusion"), el("tr", {}, el("th", {}, "true \\ predicted"), r.columns.map((c) => el("th", {}, c))),
    r.labels.map((label, i) => el("tr", { "data-label": label }, el("th", {}, label),
      r.matrix[i].map((n, j) => el("td", { class: j === i ? "diag" : "" }, n || "·")))));
  const c = r.check;
  $("agreement").textContent = (c.agree
    ? `✓ These scores reproduce the evaluation's counts at ${c.measuredAt.toFixed(2)}`
    : `✗ These scores do not reproduce the evaluation's counts at ${c.measuredAt.toFixed(2)}`) +
    ` (TP/FP/FN ${c.fromScores.truePositives}/${c.fromScores.falsePositives}/` +
    `${c.fromScores.falseNegatives}; evaluation ${c.fromEvaluation.truePositives}/` +
    `${c.fromEvaluation.falsePositives}/${c.fromEvaluation.falseNegatives})` +
    (r.datasetChanged ? ". The dataset changed since the rehearsal." : ".");
  $("fp-count").textContent = `(${r.falsePositives.length}: a label at or above the threshold that is not the image's)`;
  $("fn-count").textContent = `(${r.falseNegatives.length}: the image's label below the threshold)`;
  fill($("false-positives"), ...r.falsePositives.slice(0, 60).map((x) => thumbCard(x, "fp")));
  fill($("false-negatives"), ...r.falseNegatives.slice(0, 60).map((x) => thumbCard(x, "fn")));
}

function drawCurve(threshold) {
  const canvas = $("curve");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  const x = (t) => pad + t * (w - 2 * pad);
  const y = (v) => h - pad - v * (h - 2 * pad);
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#d0d5dd";
  ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
  ctx.fillStyle = "#667085";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText("threshold →", w - pad - 60, h - 8);
  ctx.fillText("precision (blue), recall (orange), TEST split", pad, 14);
  for (const [key, color] of [["precision", "#2f6fde"], ["recall", "#e07b00"]]) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    state.summary.curve.forEach((p, i) => {
      if (i) ctx.lineTo(x(p.threshold), y(p[key])); else ctx.moveTo(x(p.threshold), y(p[key]));
    });
    ctx.stroke();
  }
  ctx.strokeStyle = "#1d2330";
  ctx.beginPath(); ctx.moveTo(x(threshold), pad); ctx.lineTo(x(threshold), h - pad); ctx.stroke();
  const gate = state.summary.gate.threshold;
  if (gate !== null) {
    ctx.fillStyle = "#12805c";
    ctx.fillText("▲ gate", x(gate) - 6, h - pad + 12);
  }
}

async function useThreshold() {
  try {
    const result = await api(`models/${encodeURIComponent(state.model)}/threshold`,
      { method: "POST", body: JSON.stringify({ value: state.threshold }) });
    const box = $("threshold-diff");
    box.textContent = `Written to ${result.file} (the gate uses it from the next ` +
      `rehearsal or pulumi up; review it as a pull request):\n${result.diff}`;
    box.hidden = false;
    box.dataset.written = state.threshold.toFixed(2);
  } catch (err) {
    showError(err.message);
  }
}

// -- Test your model ------------------------------------------------------------------------

async function showTest() {
  const names = evaluatedModels();
  if (!names.length) {
    $("test-threshold-note").textContent =
      "No trained model: run `edgectl rehearse --out DIR`, then `edgectl studio --rehearsal DIR`.";
    return;
  }
  if (!state.model) await chooseModel(names[0]);
  picker($("test-picker"), names, state.model, async (n) => { await chooseModel(n); showTest(); });
  $("test-threshold-note").textContent = `Model ${state.model}, threshold ` +
    `${state.threshold.toFixed(2)} (the Evaluate page's slider; the gate chose ` +
    `${state.summary.gate.threshold}). The same code as \`edgectl predict\`.`;
}

async function testImage(file) {
  if (!file) return;
  $("test-image").src = URL.createObjectURL(file);
  $("test-image").hidden = false;
  try {
    const result = await api(
      `models/${encodeURIComponent(state.model)}/predict?threshold=${state.threshold}`,
      { method: "POST", body: file });
    $("test-summary").textContent = `${file.name}: ${result.labels.length} label(s) at ` +
      `threshold ${result.threshold.toFixed(2)}`;
    fill($("test-result"), ...(result.labels.length
      ? result.labels.map((l) => el("li", { "data-label": l.label, "data-score": l.score },
          el("strong", {}, l.label), ` ${l.score.toFixed(4)}`))
      : [el("li", { class: "muted", "data-label": "" }, "no label reaches the threshold")]));
    $("test-result").dataset.image = file.name;
  } catch (err) {
    showError(err.message);
  }
}

// -- wiring ---------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
document.addEventListener("keydown", onLabelKey);
$("label-save").addEventListener("click", saveLabels);
$("label-new").addEventListener("submit", addLabel);
$("threshold").addEventListener("input", () => updateThreshold().catch((e) => showError(e.message)));
$("use-threshold").addEventListener("click", useThreshold);
$("test-file").addEventListener("change", (e) => testImage(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  testImage(e.dataTransfer.files[0]);
});
route();
