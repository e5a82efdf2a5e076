// The course model in the browser: onnxruntime-web (WASM backend), same preprocessing as
// helpers.images.preprocess_digit: RGB, 64x64, x / 255 scaled to [-1, 1], channels first.
import * as ort from "/ort/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = "/ort/"; // .wasm files come from this server, not a CDN
ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page (COOP/COEP)

const SIZE = 64;
const LABELS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const statusBox = document.getElementById("status");
let session = null;
let lastFeeds = null;

function setStatus(text, isError = false) {
  statusBox.textContent = text;
  statusBox.className = isError ? "error" : "";
}

function softmax(logits) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

// RGBA pixels of a SIZE x SIZE canvas -> Float32 [1, 3, SIZE, SIZE] in [-1, 1]
function toTensor(rgba) {
  const data = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    for (let c = 0; c < 3; c++) {
      data[c * SIZE * SIZE + i] = (rgba[4 * i + c] / 255 - 0.5) / 0.5;
    }
  }
  return new ort.Tensor("float32", data, [1, 3, SIZE, SIZE]);
}

function pixelsOf(source) {
  const canvas = document.createElement("canvas");
  canvas.width = SIZE;
  canvas.height = SIZE;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, SIZE, SIZE);
  document.getElementById("preview").src = canvas.toDataURL();
  return ctx.getImageData(0, 0, SIZE, SIZE).data;
}

async function classifySource(source) {
  if (!session) throw new Error("the model is not loaded: " + statusBox.textContent);
  const feeds = { [session.inputNames[0]]: toTensor(pixelsOf(source)) };
  const start = performance.now();
  const outputs = await session.run(feeds);
  const ms = performance.now() - start;
  lastFeeds = feeds;
  const probabilities = softmax(outputs[session.outputNames[0]].data);
  showTopK(probabilities, ms);
  return { probabilities, ms };
}

function showTopK(probabilities, ms, k = 3) {
  const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, k);
  document.getElementById("topk").innerHTML = order.map(([p, i]) =>
    `<tr><td>${LABELS[i]}</td><td>${p.toFixed(4)}</td>` +
    `<td><div class="bar" style="width:${Math.round(200 * p)}px"></div></td></tr>`).join("");
  document.getElementById("latency").textContent = `one run: ${ms.toFixed(1)} ms (WASM, 1 thread)`;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load image ${url}`));
    img.src = url;
  });
}

// Entry points for the learner's clicks and for the notebook's Selenium driver.
window.classifyUrl = async (url) => classifySource(await loadImage(url));
window.benchmark = async (runs) => {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await session.run(lastFeeds);
    times.push(performance.now() - start);
  }
  return times;
};

// Does this onnxruntime-web accept a model? (bytes as base64; the page's own model is kept)
window.tryModel = async (base64) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  try {
    const trial = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    await trial.release();
    return "ready";
  } catch (error) {
    return "error: " + error.message;
  }
};

async function main() {
  try {
    session = await ort.InferenceSession.create("/model.onnx", { executionProviders: ["wasm"] });
    setStatus(`ready: onnxruntime-web ${ort.env.versions.web}, input ${session.inputNames[0]}, WASM backend`);
    window.courseReady = "ready";
  } catch (error) {
    setStatus(`cannot load the model: ${error.message}`, true);
    window.courseReady = "error: " + error.message;
    return;
  }
  const listing = await fetch("/digits/").then((r) => (r.ok ? r.json() : []));
  const strip = document.getElementById("digits");
  for (const name of listing) {
    const img = document.createElement("img");
    img.src = `/digits/${name}`;
    img.title = name;
    img.onclick = () => window.classifyUrl(img.src);
    strip.appendChild(img);
  }
}

// Drawing pad: white strokes on black, like the digits the model was trained on.
const pad = document.getElementById("pad");
const pen = pad.getContext("2d");
function clearPad() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, pad.width, pad.height);
}
clearPad();
let drawing = false;
pad.addEventListener("pointerdown", (e) => { drawing = true; pen.beginPath(); pen.moveTo(e.offsetX, e.offsetY); });
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  pen.strokeStyle = "#fff";
  pen.lineWidth = 24;
  pen.lineCap = "round";
  pen.lineTo(e.offsetX, e.offsetY);
  pen.stroke();
});
window.addEventListener("pointerup", () => { drawing = false; });
document.getElementById("clear").onclick = clearPad;
document.getElementById("classify-drawing").onclick = () => classifySource(pad);
document.getElementById("file").onchange = async (e) => {
  const file = e.target.files[0];
  if (file) classifySource(await createImageBitmap(file));
};

main();
