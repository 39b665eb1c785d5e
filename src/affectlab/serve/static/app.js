// affectlab serve: the web page. Plain JS, no dependencies; talks only to this server's /v1 API.
"use strict";

(function () {
  const COLORS = ["#e4572e", "#4f5bd5", "#17a398", "#f3a712", "#a23b72", "#2e86ab", "#6a994e", "#ff6f91"];
  const WEBCAM_INTERVAL_MS = 500;
  const TRAIL = 12;

  const el = (id) => document.getElementById(id);
  const fileInput = el("file-input");
  const webcamButton = el("webcam-button");
  const statusEl = el("status");
  const dropzone = el("dropzone");
  const stage = el("stage");
  const circ = el("circumplex");
  const facesEl = el("faces");
  const faceCount = el("face-count");
  const timingEl = el("timing");
  const video = el("webcam");

  let classes = [];
  let current = null; // {bitmap, faces}
  let trails = []; // per face index: [[v, a], ...] (webcam)
  let webcam = null; // {stream, timer, busy}

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "status" + (kind ? " " + kind : "");
  }

  // ---- API key (only when the service was started with --api-key-file) --------
  // The key is asked for on the first 401 and kept for this tab only (sessionStorage).
  function authHeaders() {
    const key = sessionStorage.getItem("affectlab-api-key");
    return key ? { Authorization: "Bearer " + key } : {};
  }

  async function apiFetch(url, options, retried) {
    const response = await fetch(url, Object.assign({}, options, { headers: authHeaders() }));
    if (response.status === 401 && !retried) {
      const key = window.prompt("This service needs an API key:");
      if (key) {
        sessionStorage.setItem("affectlab-api-key", key.trim());
        return apiFetch(url, options, true);
      }
    }
    return response;
  }

  // ---- model badge --------------------------------------------------------
  apiFetch("/v1/model").then((r) => r.json()).then((m) => {
    classes = m.classes || [];
    const parts = [m.architecture || "model", m.input_size ? m.input_size + " px" : null,
      classes.length ? classes.length + " classes" : null, m.detector ? "detector " + m.detector : null,
      m.sha256 ? "sha256 " + String(m.sha256).slice(0, 10) : null];
    el("model-badge").textContent = parts.filter(Boolean).join(" · ");
  }).catch(() => { el("model-badge").textContent = "model info unavailable"; });

  // ---- drawing helpers ----------------------------------------------------
  function hidpi(canvas, cssWidth, cssHeight) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
    canvas.style.width = cssWidth + "px";
    canvas.style.height = cssHeight + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  function roundRect(ctx, x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  function topOf(face) {
    const probs = face.probabilities || {};
    // an "uncertain" face shows its top probability
    return probs[face.expression] !== undefined ? probs[face.expression] : Math.max(0, ...Object.values(probs));
  }

  function drawStage() {
    if (!current) return;
    const { bitmap, faces } = current;
    const maxW = Math.max(200, dropzone.clientWidth);
    const maxH = Math.max(300, Math.min(window.innerHeight * 0.72, 760));
    const scale = Math.min(maxW / bitmap.width, maxH / bitmap.height, 4);
    const w = Math.round(bitmap.width * scale);
    const h = Math.round(bitmap.height * scale);
    const ctx = hidpi(stage, w, h);
    ctx.drawImage(bitmap, 0, 0, w, h);
    const line = Math.max(2, Math.min(4, w / 240));
    faces.forEach((face, i) => {
      const color = COLORS[i % COLORS.length];
      const [bx, by, bw, bh] = face.box.map((v) => v * scale);
      ctx.lineWidth = line;
      ctx.strokeStyle = color;
      roundRect(ctx, bx, by, bw, bh, Math.min(10, bw / 8));
      ctx.stroke();
      const label = `${i + 1}  ${face.expression} ${Math.round(topOf(face) * 100)}%`;
      ctx.font = "600 13px Inter, Segoe UI, system-ui, sans-serif";
      const tw = ctx.measureText(label).width + 16;
      const ty = by - 26 >= 0 ? by - 26 : by + bh + 4;
      ctx.fillStyle = color;
      roundRect(ctx, bx, ty, tw, 22, 6);
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.textBaseline = "middle";
      ctx.fillText(label, bx + 8, ty + 11.5);
    });
  }

  function drawCircumplex() {
    const size = Math.min(364, circ.parentElement.clientWidth - 36);
    const ctx = hidpi(circ, size, size);
    const c = size / 2;
    const r = size / 2 - 34;
    ctx.clearRect(0, 0, size, size);
    // quadrant tints
    const tints = ["rgba(243,167,18,0.10)", "rgba(228,87,46,0.09)", "rgba(79,91,213,0.09)", "rgba(23,163,152,0.10)"];
    for (let q = 0; q < 4; q++) {
      ctx.beginPath();
      ctx.moveTo(c, c);
      ctx.arc(c, c, r, -Math.PI / 2 * (q + 1) + 0, -Math.PI / 2 * q, false);
      ctx.closePath();
      ctx.fillStyle = tints[q];
      ctx.fill();
    }
    ctx.strokeStyle = "#d5d9e3";
    ctx.lineWidth = 1;
    [0.5, 1].forEach((k) => { ctx.beginPath(); ctx.arc(c, c, r * k, 0, Math.PI * 2); ctx.stroke(); });
    ctx.strokeStyle = "#9aa1b3";
    ctx.beginPath();
    ctx.moveTo(c - r - 8, c); ctx.lineTo(c + r + 8, c);
    ctx.moveTo(c, c - r - 8); ctx.lineTo(c, c + r + 8);
    ctx.stroke();
    // axis labels
    ctx.fillStyle = "#6b7385";
    ctx.font = "600 11px Inter, Segoe UI, system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("arousal +", c, 11);
    ctx.fillText("arousal −", c, size - 11);
    ctx.save();
    ctx.translate(12, c); ctx.rotate(-Math.PI / 2); ctx.fillText("valence −", 0, 0); ctx.restore();
    ctx.save();
    ctx.translate(size - 12, c); ctx.rotate(Math.PI / 2); ctx.fillText("valence +", 0, 0); ctx.restore();
    // quadrant names
    ctx.font = "500 11px Inter, Segoe UI, system-ui, sans-serif";
    ctx.fillStyle = "#8a91a3";
    const off = r * 0.56;
    ctx.fillText("excited · happy", c + off, c - off);
    ctx.fillText("tense · angry", c - off, c - off);
    ctx.fillText("sad · bored", c - off, c + off);
    ctx.fillText("calm · relaxed", c + off, c + off);
    if (!current) return;
    const toXY = (v, a) => [c + Math.max(-1, Math.min(1, v)) * r, c - Math.max(-1, Math.min(1, a)) * r];
    current.faces.forEach((face, i) => {
      const color = COLORS[i % COLORS.length];
      const trail = trails[i] || [];
      if (trail.length > 1) {
        ctx.strokeStyle = color;
        ctx.globalAlpha = 0.35;
        ctx.lineWidth = 2;
        ctx.beginPath();
        trail.forEach(([v, a], k) => { const [x, y] = toXY(v, a); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
        ctx.stroke();
        ctx.globalAlpha = 1;
      }
      const [x, y] = toXY(face.valence, face.arousal);
      ctx.beginPath();
      ctx.arc(x, y, 10, 0, Math.PI * 2);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.font = "700 11px Inter, Segoe UI, system-ui, sans-serif";
      ctx.fillText(String(i + 1), x, y + 0.5);
    });
  }

  function renderFaces(faces) {
    facesEl.textContent = "";
    faceCount.textContent = String(faces.length);
    if (!faces.length) {
      const li = document.createElement("li");
      li.className = "muted empty";
      li.textContent = "No face found in this picture.";
      facesEl.appendChild(li);
      return;
    }
    faces.forEach((face, i) => {
      const color = COLORS[i % COLORS.length];
      const li = document.createElement("li");
      li.className = "face-card";
      const head = document.createElement("div");
      head.className = "face-head";
      const dot = document.createElement("span");
      dot.className = "face-dot";
      dot.style.background = color;
      dot.textContent = String(i + 1);
      const title = document.createElement("span");
      title.className = "face-title";
      title.textContent = face.expression;
      const va = document.createElement("span");
      va.className = "face-va";
      va.textContent = `valence ${face.valence.toFixed(2)} · arousal ${face.arousal.toFixed(2)}`;
      head.append(dot, title, va);
      const bars = document.createElement("div");
      bars.className = "bars";
      const names = classes.length ? classes : Object.keys(face.probabilities);
      names.forEach((name) => {
        const p = face.probabilities[name] || 0;
        const top = name === face.expression ? " bar-top" : "";
        const label = document.createElement("span");
        label.className = "bar-name" + top;
        label.textContent = name;
        const track = document.createElement("span");
        track.className = "bar-track";
        const fill = document.createElement("span");
        fill.className = "bar-fill";
        fill.style.display = "block";
        fill.style.width = (p * 100).toFixed(1) + "%";
        fill.style.background = name === face.expression ? color : "#b9bfcf";
        track.appendChild(fill);
        const value = document.createElement("span");
        value.className = "bar-value" + top;
        value.textContent = (p * 100).toFixed(1) + "%";
        bars.append(label, track, value);
      });
      li.append(head, bars);
      facesEl.appendChild(li);
    });
  }

  function show(bitmap, body) {
    current = { bitmap, faces: body.faces };
    body.faces.forEach((f, i) => {
      trails[i] = webcam ? (trails[i] || []).concat([[f.valence, f.arousal]]).slice(-TRAIL) : [];
    });
    trails.length = body.faces.length;
    dropzone.classList.add("has-image");
    drawStage();
    drawCircumplex();
    renderFaces(body.faces);
    const t = body.timing_ms || {};
    timingEl.textContent = `${body.image.width}×${body.image.height} px · ${body.faces.length} face(s) · ` +
      `server ${Math.round(t.total || 0)} ms (inference ${Math.round(t.inference || 0)} ms)`;
    document.body.dataset.faces = String(body.faces.length);
    document.body.dataset.result = "ready";
  }

  // ---- talking to the API -------------------------------------------------
  async function predict(blob, name) {
    const form = new FormData();
    form.append("file", blob, name);
    const response = await apiFetch("/v1/predict", { method: "POST", body: form });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const err = new Error((body && body.detail) || `HTTP ${response.status}`);
      err.status = response.status;
      err.code = body && body.error;
      err.retryAfter = Number(response.headers.get("Retry-After") || 0);
      throw err;
    }
    return body;
  }

  async function handleFile(file) {
    if (!file) return;
    if (webcam) stopWebcam();
    document.body.dataset.result = "pending";
    setStatus(`Analysing ${file.name}…`, "busy");
    try {
      const body = await predict(file, file.name);
      let bitmap;
      try {
        bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      } catch (e) {
        bitmap = await createImageBitmap(file);
      }
      show(bitmap, body);
      setStatus(`${file.name}: ${body.faces.length} face${body.faces.length === 1 ? "" : "s"} found.`);
    } catch (err) {
      document.body.dataset.result = "error";
      setStatus(`${file.name}: ${err.message}`, "error");
    }
  }

  fileInput.addEventListener("change", () => { handleFile(fileInput.files[0]); fileInput.value = ""; });

  ["dragenter", "dragover"].forEach((type) => document.addEventListener(type, (e) => {
    e.preventDefault();
    dropzone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => document.addEventListener(type, (e) => {
    e.preventDefault();
    if (type === "drop" || e.target === document.documentElement) dropzone.classList.remove("dragging");
    if (type === "drop" && e.dataTransfer && e.dataTransfer.files.length) handleFile(e.dataTransfer.files[0]);
  }));

  // ---- webcam ---------------------------------------------------------------
  async function webcamTick() {
    if (!webcam || webcam.busy || video.readyState < 2) { scheduleTick(WEBCAM_INTERVAL_MS); return; }
    webcam.busy = true;
    const started = performance.now();
    const grab = document.createElement("canvas");
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    let wait = WEBCAM_INTERVAL_MS;
    try {
      const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
      const body = await predict(blob, "webcam.jpg");
      if (webcam) {
        show(await createImageBitmap(grab), body);
        setStatus(`Webcam live: ${body.faces.length} face${body.faces.length === 1 ? "" : "s"}.`);
      }
    } catch (err) {
      if (err.status === 429 || err.status === 503) wait = Math.max(1000, err.retryAfter * 1000);
      setStatus(`Webcam: ${err.message}`, "error");
    } finally {
      if (webcam) webcam.busy = false;
    }
    scheduleTick(Math.max(0, wait - (performance.now() - started)));
  }

  function scheduleTick(ms) {
    if (webcam) webcam.timer = setTimeout(webcamTick, ms);
  }

  async function startWebcam() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("This browser gives no camera access here (it needs https or localhost).", "error");
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      video.srcObject = stream;
      await video.play();
      webcam = { stream, timer: null, busy: false };
      trails = [];
      webcamButton.textContent = "Stop webcam";
      webcamButton.classList.add("live");
      setStatus("Webcam starting…", "busy");
      scheduleTick(100);
    } catch (err) {
      setStatus(`Could not open the webcam: ${err.message || err.name}`, "error");
    }
  }

  function stopWebcam() {
    if (!webcam) return;
    clearTimeout(webcam.timer);
    webcam.stream.getTracks().forEach((t) => t.stop());
    video.srcObject = null;
    webcam = null;
    webcamButton.textContent = "Use webcam";
    webcamButton.classList.remove("live");
    setStatus("Webcam stopped.");
  }

  webcamButton.addEventListener("click", () => (webcam ? stopWebcam() : startWebcam()));

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { drawStage(); drawCircumplex(); }, 120);
  });

  drawCircumplex();
})();
