// The course model in the browser: onnxruntime-web (WASM backend), same preprocessing as
// helpers.data.images.preprocess_digit: RGB, resized to 64x64 exactly as Pillow's BILINEAR
// resize does, x / 255 scaled to [-1, 1], channels first.
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

// Pillow's Image.resize(..., Image.BILINEAR), ported from libImaging/Resample.c so the page
// feeds the model the same pixels Python does: a separable convolution with a triangle filter
// widened by the scale when shrinking (antialiasing), 8-bit fixed-point weights, each pass
// rounded and clipped to 0..255. JS numbers are doubles: the integer sums stay exact.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

function bilinearFilter(x) {
  x = Math.abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// precompute_coeffs + normalize_coeffs_8bpc: for each output index, the first input index,
// how many inputs it reads, and their fixed-point weights (ksize of them, zero-padded)
function precomputeCoeffs(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = 1.0 * filterscale; // BILINEAR's support is 1.0
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const weights = [];
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      weights.push(w);
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? weights[x] / ww : weights[x];
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * ONE : 0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(sum) {
  return Math.min(Math.max(Math.floor(sum / ONE), 0), 255);
}

// One pass over RGBA pixels along x (horizontal) or y (vertical); RGB like Pillow's "RGB" mode,
// the alpha of the result is 255 (the model sees RGB only, and so does the preview)
function resamplePass(rgba, width, height, outSize, horizontal) {
  const { ksize, bounds, kk } = precomputeCoeffs(horizontal ? width : height, outSize);
  const outWidth = horizontal ? outSize : width;
  const outHeight = horizontal ? height : outSize;
  const out = new Uint8ClampedArray(outWidth * outHeight * 4);
  const step = horizontal ? 4 : 4 * width; // from one input tap to the next
  for (let yy = 0; yy < outHeight; yy++) {
    for (let xx = 0; xx < outWidth; xx++) {
      const o = horizontal ? xx : yy;
      const count = bounds[2 * o + 1];
      const first = horizontal ? 4 * (yy * width + bounds[2 * o]) : 4 * (bounds[2 * o] * width + xx);
      const k0 = o * ksize;
      let r = ONE / 2, g = ONE / 2, b = ONE / 2;
      for (let i = 0, at = first; i < count; i++, at += step) {
        const k = kk[k0 + i];
        r += rgba[at] * k;
        g += rgba[at + 1] * k;
        b += rgba[at + 2] * k;
      }
      const to = 4 * (yy * outWidth + xx);
      out[to] = clip8(r);
      out[to + 1] = clip8(g);
      out[to + 2] = clip8(b);
      out[to + 3] = 255;
    }
  }
  return out;
}

// ImagingResampleInner: two passes, each rounded to 8 bits, a pass whose size is unchanged
// skipped. Their order changes the rounding in between: the Pillow 13.0.0 that
// requirements.txt pins runs the vertical pass first when the height shrinks by more than twice
// as many pixels as the width does, otherwise horizontal first (a rule measured against it:
// identical 64x64 output for ~400 input sizes up to 400x1200, and at the switch-over for
// widths 65 to 400; upstream's main branch still always runs horizontal first).
function resizeBilinear(rgba, width, height, outWidth, outHeight) {
  let pixels = rgba;
  const verticalFirst = outHeight < height && height - outHeight > 2 * (width - outWidth);
  if (verticalFirst) {
    pixels = resamplePass(pixels, width, height, outHeight, false);
    if (outWidth !== width) pixels = resamplePass(pixels, width, outHeight, outWidth, true);
  } else {
    if (outWidth !== width) pixels = resamplePass(pixels, width, height, outWidth, true);
    if (outHeight !== height) pixels = resamplePass(pixels, outWidth, height, outHeight, false);
  }
  if (pixels === rgba) { // already the right size: Pillow copies it
    pixels = new Uint8ClampedArray(rgba);
    for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
  }
  return pixels;
}

function naturalSize(source) {
  return source instanceof HTMLImageElement
    ? [source.naturalWidth, source.naturalHeight]
    : [source.width, source.height];
}

let lastInput = null; // RGBA of the last SIZE x SIZE model input

// Image, ImageBitmap or canvas -> RGBA pixels of SIZE x SIZE, resized as Pillow resizes
function pixelsOf(source) {
  const [width, height] = naturalSize(source);
  if (!width || !height) throw new Error(`the image has no pixels (${width}x${height})`);
  const full = document.createElement("canvas");
  full.width = width;
  full.height = height;
  const fullCtx = full.getContext("2d", { willReadFrequently: true });
  fullCtx.drawImage(source, 0, 0);
  const rgba = resizeBilinear(fullCtx.getImageData(0, 0, width, height).data, width, height, SIZE, SIZE);
  const canvas = document.createElement("canvas");
  canvas.width = SIZE;
  canvas.height = SIZE;
  canvas.getContext("2d").putImageData(new ImageData(rgba, SIZE, SIZE), 0, 0);
  document.getElementById("preview").src = canvas.toDataURL();
  lastInput = rgba;
  return rgba;
}

// The last model input as 64 x 64 x 3 RGB values (row-major H, W, C), for tests
window.modelInput = () => {
  if (!lastInput) return null;
  const rgb = [];
  for (let i = 0; i < SIZE * SIZE; i++) rgb.push(lastInput[4 * i], lastInput[4 * i + 1], lastInput[4 * i + 2]);
  return rgb;
};

async function classifySource(source) {
  if (!session) throw new Error("the model is not loaded: " + statusBox.textContent);
  const feeds = { [session.inputNames[0]]: toTensor(pixelsOf(source)) };
  const start = performance.now();
  const outputs = await session.run(feeds);
  const ms = performance.now() - start;
  lastFeeds = feeds;
  const probabilities = softmax(outputs[session.outputNames[0]].data);
  showTopK(probabilities, ms);
  showInputError("");
  return { probabilities, ms };
}

function showTopK(probabilities, ms, k = 3) {
  const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, k);
  document.getElementById("topk").innerHTML = order.map(([p, i]) =>
    `<tr><td>${LABELS[i]}</td><td>${p.toFixed(4)}</td>` +
    `<td><div class="bar" style="width:${Math.round(200 * p)}px"></div></td></tr>`).join("");
  document.getElementById("latency").textContent = `one run: ${ms.toFixed(1)} ms (WASM, 1 thread)`;
}

// An input that could not be classified: say why, and leave no old answer on screen
function showInputError(text) {
  const box = document.getElementById("file-error");
  box.textContent = text;
  box.hidden = !text;
  if (!text) return;
  document.getElementById("topk").innerHTML = "";
  document.getElementById("latency").textContent = "";
  document.getElementById("preview").removeAttribute("src");
  lastInput = null;
}

const FORMATS = "expected PNG, JPEG, GIF, BMP or WebP";

// Bytes -> decoded image, without the colour management Pillow does not do either
async function decode(blob, name) {
  if (blob.size === 0) throw new Error(`${name} is empty (0 bytes): ${FORMATS}`);
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: "none" });
  } catch (error) {
    throw new Error(`${name} is not an image the browser can decode: ${FORMATS} (${error.message})`);
  }
}

async function loadImage(url) {
  const name = url.startsWith("data:") ? url.slice(0, 30) + "…" : url;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`cannot load image ${name}: ${error.message}`);
  }
  if (!response.ok) throw new Error(`cannot load image ${name}: HTTP ${response.status}`);
  return decode(await response.blob(), name);
}

// Classify, and on failure show the reason in the page (the learner's clicks and picks)
async function classifyOrExplain(load) {
  let source = null;
  try {
    source = await load();
    return await classifySource(source);
  } catch (error) {
    showInputError(error.message);
    throw error;
  } finally {
    if (source instanceof ImageBitmap) source.close();
  }
}

// Entry points for the learner's clicks and for the notebook's Selenium driver.
window.classifyUrl = async (url) => classifyOrExplain(() => loadImage(url));
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
    img.onclick = () => window.classifyUrl(img.src).catch((e) => console.error(e));
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
document.getElementById("classify-drawing").onclick = () =>
  classifyOrExplain(async () => pad).catch((e) => console.error(e));
document.getElementById("file").onchange = (e) => {
  const file = e.target.files[0];
  if (file) classifyOrExplain(() => decode(file, file.name)).catch((error) => console.error(error));
};

main();
