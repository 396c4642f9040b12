// The HTTP mode's web page (docs/web.md). Plain JavaScript, no build step, nothing from another origin.
//
// Speech: POST /v1/audio/speech with response_format "pcm" and stream_format "sse"; each
// speech.audio.delta (16-bit little-endian mono PCM, 24 kHz) is decoded and scheduled with the Web Audio
// API as it arrives, so the first sentence plays while the rest is made; speech.segment events are the
// subtitles (highlighted while they play); speech.audio.done brings the seed and timings; at the end the
// PCM becomes a WAV file for the <audio> element and the download link.
// Voices: GET /v1/audio/voices (presets, stored voices, and what creating one takes here), and
// POST /v1/audio/voice_consents + /v1/audio/voices (multipart). Clips are converted to 16-bit WAV in the
// browser first: the server reads WAV, FLAC, OGG and MP3, not the WebM or MP4 a browser records.
// The API key stays in localStorage and goes, as a bearer token, only to this page's own origin.
"use strict";

(() => {
  const RATE = 24000; // the model's sample rate: the PCM stream's
  const LEAD_S = 0.12; // how far ahead of "now" a chunk is scheduled when playback (re)starts
  const MAX_RECORD_S = 30;
  const KEY_STORE = "f5tts.apiKey";
  const VOICE_STORE = "f5tts.voice";
  const SERVER_FORMATS = /\.(wav|flac|ogg|oga|opus|mp3)$/i; // what the server decodes itself

  const $ = (id) => document.getElementById(id);
  const el = {
    error: $("error"), status: $("status"),
    connection: $("connection"), keyForm: $("key-form"), apiKey: $("api-key"), showKey: $("show-key"),
    forgetKey: $("forget-key"), keyState: $("key-state"),
    speakForm: $("speak-form"), voice: $("voice"), voiceInfo: $("voice-info"), refreshVoices: $("refresh-voices"),
    deleteVoice: $("delete-voice"), text: $("text"), count: $("count"), options: $("options"), seed: $("seed"),
    nfeStep: $("nfe-step"), speed: $("speed"), speak: $("speak"), stop: $("stop"),
    result: $("result"), player: $("player"), download: $("download"), downloadVtt: $("download-vtt"),
    reuseSeed: $("reuse-seed"), facts: $("facts"), subtitles: $("subtitles"),
    newVoice: $("new-voice"), voiceForm: $("voice-form"), storeNote: $("store-note"), voiceName: $("voice-name"),
    refText: $("ref-text"), refTextHint: $("ref-text-hint"), consentFields: $("consent-fields"),
    consentChoice: $("consent-choice"), consentNew: $("consent-new"), consentName: $("consent-name"),
    consentLanguage: $("consent-language"), consentScript: $("consent-script"), createVoice: $("create-voice"),
  };

  const state = {
    server: { store: false, consent_required: false, transcribes: false, default: "en" },
    voices: new Map(), // id -> voice object from the server
    run: null, // the speech request in progress: {abort, player, ...}
    live: null, // the LivePlayer of the last request (it may still play after its request ended)
    last: null, // the last finished result: {seed, segments, ...}
    urls: [], // object URLs of the last result, revoked when replaced
    audioContext: null,
    highlightFrame: 0,
    lastConsent: null, // a consent created for a voice whose creation then failed: reused, not recorded twice
  };

  // ---- small helpers ------------------------------------------------------------------------------------
  function setStatus(message) {
    el.status.textContent = message;
  }

  function clearError() {
    el.error.textContent = "";
    for (const field of document.querySelectorAll("[aria-invalid='true']")) field.removeAttribute("aria-invalid");
  }

  function showError(message, field) {
    el.error.textContent = message;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      const panel = field.closest("details");
      if (panel) panel.open = true;
      field.focus();
    }
  }

  function apiKey() {
    try {
      return localStorage.getItem(KEY_STORE) || "";
    } catch {
      return el.apiKey.value.trim(); // storage blocked: the key lives in the field only
    }
  }

  function headers(extra) {
    const h = new Headers(extra || {});
    const key = apiKey();
    if (key) h.set("Authorization", `Bearer ${key}`);
    return h;
  }

  class ApiError extends Error {
    constructor(message, status, param) {
      super(message);
      this.status = status;
      this.param = param;
    }
  }

  // The server's OpenAI-style error, {"error": {"message", "param", ...}}, as an ApiError.
  async function errorOf(response) {
    let message = "", param = null;
    try {
      const body = await response.json();
      message = body && body.error && (typeof body.error === "string" ? body.error : body.error.message);
      param = body && body.error && body.error.param;
    } catch {
      // not JSON: a proxy's page, say
    }
    const what = String(message || response.statusText || "no details").replace(/\.\s*$/, "");
    let hint = "";
    if (response.status === 401) hint = " Enter the API key under Connection.";
    else if (response.status === 429 || response.status === 503) {
      const retry = response.headers.get("Retry-After");
      hint = retry ? ` Try again in ${retry} s.` : " Try again shortly.";
    }
    return new ApiError(`The server answered ${response.status}: ${what}.${hint}`, response.status, param);
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: headers(options.headers), cache: "no-store" });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(`Could not reach the server (${err.message}). Is it running?`, 0, null);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  function handleFailure(err, fieldFor) {
    if (err.name === "AbortError") return;
    console.warn(err);
    const field = err.param && fieldFor ? fieldFor(err.param) : null;
    if (err.status === 401) {
      el.connection.open = true;
      showError(err.message, el.apiKey);
      return;
    }
    showError(err.message || String(err), field);
  }

  function seconds(value, digits = 2) {
    return `${Number(value).toFixed(digits)} s`;
  }

  function clock(t) {
    const m = Math.floor(t / 60), s = t - m * 60;
    return `${String(m).padStart(2, "0")}:${s.toFixed(1).padStart(4, "0")}`;
  }

  function vttTime(t) {
    const ms = Math.round(t * 1000);
    const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
  }

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // 16-bit PCM mono WAV from Int16 samples (little-endian bytes, as the stream sends them).
  function wavBlob(pcmBytes, rate) {
    const header = new DataView(new ArrayBuffer(44));
    const ascii = (offset, s) => { for (let i = 0; i < s.length; i++) header.setUint8(offset + i, s.charCodeAt(i)); };
    ascii(0, "RIFF"); header.setUint32(4, 36 + pcmBytes.length, true); ascii(8, "WAVE");
    ascii(12, "fmt "); header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
    header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true);
    header.setUint16(34, 16, true); ascii(36, "data"); header.setUint32(40, pcmBytes.length, true);
    return new Blob([header.buffer, pcmBytes], { type: "audio/wav" });
  }

  function floatToInt16Bytes(samples) {
    const out = new DataView(new ArrayBuffer(samples.length * 2));
    for (let i = 0; i < samples.length; i++) {
      const v = Math.max(-1, Math.min(1, samples[i]));
      out.setInt16(i * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
    return new Uint8Array(out.buffer);
  }

  function audioContext() {
    if (!state.audioContext) {
      const Context = window.AudioContext || window.webkitAudioContext;
      state.audioContext = new Context();
    }
    return state.audioContext;
  }

  // ---- the API key -------------------------------------------------------------------------------------
  function showKeyState() {
    const key = apiKey();
    el.keyState.textContent = key ? "API key saved" : "no API key";
    el.keyState.classList.toggle("on", Boolean(key));
  }

  el.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = el.apiKey.value.trim();
    try {
      if (key) localStorage.setItem(KEY_STORE, key);
      else localStorage.removeItem(KEY_STORE);
    } catch {
      // storage blocked (a private window's policy): apiKey() reads the field
    }
    showKeyState();
    clearError();
    setStatus(key ? "API key saved in this browser." : "API key removed.");
    loadVoices();
  });

  el.forgetKey.addEventListener("click", () => {
    el.apiKey.value = "";
    try { localStorage.removeItem(KEY_STORE); } catch { /* nothing stored */ }
    showKeyState();
    setStatus("API key removed from this browser.");
  });

  el.showKey.addEventListener("click", () => {
    const shown = el.apiKey.type === "text";
    el.apiKey.type = shown ? "password" : "text";
    el.showKey.setAttribute("aria-pressed", String(!shown));
    el.showKey.textContent = shown ? "Show" : "Hide";
  });

  // ---- voices ------------------------------------------------------------------------------------------
  async function loadVoices(select) {
    const keep = select || el.voice.value || readStored(VOICE_STORE);
    el.refreshVoices.disabled = true;
    try {
      const voices = [];
      let after = null, first = null;
      for (let page = 0; page < 50; page++) { // presets, then stored voices 100 at a time
        const query = new URLSearchParams({ limit: "100" });
        if (after) query.set("after", after);
        const body = await (await api(`/v1/audio/voices?${query}`)).json();
        first = first || body;
        voices.push(...(body.data || []));
        if (!body.has_more || !body.last_id) break;
        after = body.last_id;
      }
      state.server = {
        store: Boolean(first.store), consent_required: Boolean(first.consent_required),
        transcribes: Boolean(first.transcribes), default: first.default || "en",
      };
      fillVoices(voices, keep);
      describeServer();
      if (state.server.store && state.server.consent_required) loadConsents();
      if (document.body.dataset.state === "loading") document.body.dataset.state = "idle";
      return true;
    } catch (err) {
      handleFailure(err);
      if (document.body.dataset.state === "loading") document.body.dataset.state = "idle";
      return false;
    } finally {
      el.refreshVoices.disabled = false;
    }
  }

  function readStored(name) {
    try { return localStorage.getItem(name) || ""; } catch { return ""; }
  }

  function fillVoices(voices, keep) {
    state.voices = new Map(voices.map((v) => [v.id, v]));
    el.voice.replaceChildren();
    const groups = [
      ["Presets", voices.filter((v) => v.type === "preset")],
      ["Your voices", voices.filter((v) => v.type !== "preset")],
    ];
    for (const [label, members] of groups) {
      if (!members.length) continue;
      const group = document.createElement("optgroup");
      group.label = label;
      for (const v of members) {
        const option = document.createElement("option");
        option.value = v.id;
        option.textContent = v.type === "preset"
          ? `${v.name}${v.language && v.language !== v.name ? ` (${v.language})` : ""}${v.id === state.server.default ? " (default)" : ""}`
          : v.name;
        group.append(option);
      }
      el.voice.append(group);
    }
    const wanted = [keep, state.server.default].find((id) => id && state.voices.has(id));
    if (wanted) el.voice.value = wanted;
    describeVoice();
  }

  function describeVoice() {
    const v = state.voices.get(el.voice.value);
    el.deleteVoice.hidden = !v || v.type === "preset";
    if (!v) {
      el.voiceInfo.textContent = "";
      return;
    }
    const kind = v.type === "preset" ? "Preset voice" : `Your voice ${v.id}`;
    const said = v.ref_text ? ` Its reference says: “${v.ref_text}”` : "";
    el.voiceInfo.textContent = `${kind}.${said}`;
  }

  function describeServer() {
    const { store, consent_required: consent, transcribes } = state.server;
    el.voiceForm.querySelectorAll("input, textarea, select, button").forEach((c) => { c.disabled = !store; });
    el.storeNote.textContent = store
      ? "Creates a stored voice from a short clip of one person speaking. Pick it in the voice list above, from any "
        + "browser that uses this server."
      : "This server has no voice store, so it cannot keep new voices: its operator sets F5_VOICE_STORE "
        + "(a folder, a RunPod network volume, or an S3 bucket).";
    el.consentFields.hidden = !consent;
    el.refText.required = !transcribes;
    el.refTextHint.textContent = transcribes
      ? "Exactly the words spoken in the clip. Optional: this server transcribes the clip when it is left empty."
      : "Exactly the words spoken in the clip (required: this server does not transcribe).";
  }

  async function loadConsents() {
    try {
      const body = await (await api("/v1/audio/voice_consents?limit=100")).json();
      const keep = el.consentChoice.value;
      el.consentChoice.replaceChildren(new Option("A new one (below)", ""));
      for (const c of body.data || []) el.consentChoice.append(new Option(`${c.name} (${c.language}, ${c.id})`, c.id));
      if ([...el.consentChoice.options].some((o) => o.value === keep)) el.consentChoice.value = keep;
      el.consentNew.hidden = Boolean(el.consentChoice.value);
    } catch (err) {
      handleFailure(err);
    }
  }

  el.voice.addEventListener("change", () => {
    describeVoice();
    try { localStorage.setItem(VOICE_STORE, el.voice.value); } catch { /* not kept */ }
  });
  el.refreshVoices.addEventListener("click", () => { clearError(); loadVoices(); });

  el.deleteVoice.addEventListener("click", async () => {
    const v = state.voices.get(el.voice.value);
    if (!v || v.type === "preset") return;
    if (!window.confirm(`Delete the voice “${v.name}” (${v.id}) from the server's store?`)) return;
    clearError();
    try {
      await api(`/v1/audio/voices/${encodeURIComponent(v.id)}`, { method: "DELETE" });
      setStatus(`Voice “${v.name}” deleted.`);
      await loadVoices(state.server.default);
      el.voice.focus();
    } catch (err) {
      handleFailure(err);
    }
  });

  // ---- speech: stream, play as it arrives, then the file -----------------------------------------------------
  // Plays PCM chunks back to back on the Web Audio clock; knows which moment of the speech plays now.
  class LivePlayer {
    constructor(context) {
      this.context = context;
      this.output = context.createGain();
      this.output.connect(context.destination);
      this.next = 0; // the context time at which the next chunk starts
      this.samples = 0; // samples scheduled so far
      this.pieces = []; // {at, offset, duration}: when each chunk plays, and where it sits in the speech
      this.sources = new Set();
      this.stopped = false;
      this.played = 0;
    }

    push(floats) {
      if (!floats.length) return;
      const buffer = this.context.createBuffer(1, floats.length, RATE);
      buffer.copyToChannel(floats, 0);
      const source = this.context.createBufferSource();
      source.buffer = buffer;
      source.connect(this.output);
      const at = Math.max(this.next, this.context.currentTime + LEAD_S); // a late chunk: a short gap, no overlap
      source.start(at);
      source.onended = () => {
        this.sources.delete(source);
        if (!this.stopped) document.body.dataset.played = String(++this.played); // chunks heard to their end
      };
      this.sources.add(source);
      const duration = floats.length / RATE;
      this.pieces.push({ at, offset: this.samples / RATE, duration });
      this.next = at + duration;
      this.samples += floats.length;
    }

    // The time in the speech now playing; null before the first chunk and after the last.
    position() {
      if (this.stopped) return null;
      const now = this.context.currentTime;
      for (const p of this.pieces) {
        if (now >= p.at && now < p.at + p.duration) return p.offset + (now - p.at);
      }
      return null;
    }

    get finished() {
      return this.stopped || (this.pieces.length > 0 && this.context.currentTime >= this.next);
    }

    stop() {
      this.stopped = true;
      for (const source of this.sources) {
        try { source.stop(); } catch { /* not started */ }
      }
      this.sources.clear();
      this.output.disconnect();
    }
  }

  // Reads `data:` events from a text/event-stream body, calling onEvent with each parsed JSON object.
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (block) => {
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
      if (data.length) onEvent(JSON.parse(data.join("\n")));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        flush(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    if (buffer.trim()) flush(buffer);
  }

  function requestBody(text) {
    const body = {
      model: "tts-1", input: text, response_format: "pcm", stream_format: "sse", timestamps: true,
    };
    const id = el.voice.value;
    const v = state.voices.get(id);
    if (id) body.voice = v && v.type !== "preset" ? { id } : id;
    const number = (input, integer) => {
      const raw = input.value.trim();
      if (input.validity.badInput) {
        throw Object.assign(new Error(`${input.labels[0].textContent} must be a number.`), { field: input });
      }
      if (raw === "") return undefined;
      const value = Number(raw);
      if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
        throw Object.assign(new Error(`${input.labels[0].textContent} must be a ${integer ? "whole " : ""}number.`),
          { field: input });
      }
      return value;
    };
    const seed = number(el.seed, true);
    const steps = number(el.nfeStep, true);
    const speed = number(el.speed, false);
    if (seed !== undefined) body.seed = seed;
    if (steps !== undefined) body.nfe_step = steps;
    if (speed !== undefined && speed !== 1) body.speed = speed;
    return body;
  }

  const SPEECH_FIELDS = { input: "text", voice: "voice", seed: "seed", nfe_step: "nfe-step", speed: "speed" };

  function clearResult() {
    for (const url of state.urls) URL.revokeObjectURL(url);
    state.urls = [];
    el.player.removeAttribute("src");
    el.player.load();
    el.player.hidden = true;
    el.download.hidden = true;
    el.downloadVtt.hidden = true;
    el.reuseSeed.hidden = true;
    el.facts.replaceChildren();
    el.subtitles.replaceChildren();
  }

  function addSegment(segment) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cue";
    button.dataset.start = segment.start_s;
    button.dataset.end = segment.end_s;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock(segment.start_s);
    const words = document.createElement("span");
    words.textContent = segment.text;
    button.append(time, " ", words);
    button.setAttribute("aria-label", `${segment.text} (from ${seconds(segment.start_s, 1)})`);
    button.addEventListener("click", () => {
      if (el.player.hidden || !el.player.src) return; // the file is there once the speech is complete
      el.player.currentTime = segment.start_s;
      el.player.play().catch(() => {});
    });
    item.append(button);
    el.subtitles.append(item);
  }

  function highlight(position) {
    for (const cue of el.subtitles.querySelectorAll(".cue")) {
      const on = position !== null && position >= Number(cue.dataset.start) && position < Number(cue.dataset.end);
      if (on) cue.setAttribute("aria-current", "true");
      else cue.removeAttribute("aria-current");
    }
  }

  // Highlights the sentence at positionOf() on every frame while active() holds, then clears it if asked.
  function follow(positionOf, active, clearAtEnd) {
    cancelAnimationFrame(state.highlightFrame);
    const step = () => {
      highlight(positionOf());
      if (active()) state.highlightFrame = requestAnimationFrame(step);
      else if (clearAtEnd) highlight(null);
    };
    state.highlightFrame = requestAnimationFrame(step);
  }

  function addFact(term, value) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    const pair = document.createElement("div");
    pair.className = "fact";
    pair.append(dt, dd);
    el.facts.append(pair);
  }

  const TIMINGS = [ // the server's timings, in this order (any other key after them, by its own name)
    ["first_audio_s", "First audio (server)"], ["total_s", "Total (server)"], ["rtf", "Real-time factor"],
    ["model_s", "Model"], ["vocoder_s", "Vocoder"], ["preprocess_s", "Preparation"], ["encode_s", "Encoding"],
    ["upload_s", "Upload"], ["batched_with", "Batched with"],
  ];

  function showFacts(done, run) {
    el.facts.replaceChildren();
    addFact("Seed", String(done.seed ?? run.seed ?? "?"));
    if (done.duration_s !== undefined) addFact("Duration", seconds(done.duration_s));
    if (run.firstAudioMs !== null) addFact("First audio (here)", seconds(run.firstAudioMs / 1000));
    addFact("Total (here)", seconds((performance.now() - run.started) / 1000));
    const timings = { ...(done.timings || {}) };
    const known = new Map(TIMINGS);
    const keys = [...TIMINGS.map(([key]) => key).filter((key) => key in timings),
      ...Object.keys(timings).filter((key) => !known.has(key))];
    for (const key of keys) {
      const value = timings[key];
      const shown = typeof value === "number" && key.endsWith("_s") ? seconds(value, 3) : String(value);
      addFact(known.get(key) || key, key === "batched_with" ? `${shown} request${value === 1 ? "" : "s"}` : shown);
    }
    if (done.usage) {
      addFact("Tokens", `${done.usage.input_tokens} in, ${done.usage.output_tokens} out`);
    }
  }

  function vttOf(segments) {
    const cues = segments.map((s, i) => `${i + 1}\n${vttTime(s.start_s)} --> ${vttTime(s.end_s)}\n${s.text}\n`);
    return `WEBVTT\n\n${cues.join("\n")}`;
  }

  function setBusy(busy) {
    el.speak.disabled = busy;
    el.stop.disabled = !busy;
    el.speak.textContent = busy ? "Speaking…" : "Speak";
    el.speakForm.setAttribute("aria-busy", String(busy));
  }

  async function speak() {
    if (state.run) return;
    clearError();
    const text = el.text.value;
    if (!text.trim()) {
      showError("Type some text to speak first: the text is empty.", el.text);
      return;
    }
    let body;
    try {
      body = requestBody(text);
    } catch (err) {
      showError(err.message, err.field);
      return;
    }
    const context = audioContext();
    context.resume().catch(() => {}); // within the click or key press: browsers allow sound from here on
    const abort = new AbortController();
    const run = {
      abort, player: new LivePlayer(context), chunks: [], bytes: 0, odd: null, segments: [], deltas: 0,
      started: performance.now(), firstAudioMs: null, seed: body.seed, done: null,
    };
    if (state.live) state.live.stop(); // the previous speech, if it still plays
    state.live = run.player;
    state.run = run;
    el.player.pause();
    clearResult();
    delete document.body.dataset.chunks;
    delete document.body.dataset.played;
    el.result.hidden = false;
    setBusy(true);
    document.body.dataset.state = "speaking";
    setStatus("Making the speech…");
    follow(() => run.player.position(), () => state.run === run || !run.player.finished, true);
    try {
      const response = await api("/v1/audio/speech", {
        method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
        signal: abort.signal,
      });
      run.seed = Number(response.headers.get("X-Seed") ?? body.seed);
      await readEvents(response.body, (event) => onSpeechEvent(run, event));
      if (!run.done) throw new ApiError("The stream ended before the speech was complete; try again.", 0, null);
      finish(run);
    } catch (err) {
      run.player.stop();
      if (err.name === "AbortError") {
        setStatus("Stopped.");
        document.body.dataset.state = "idle";
      } else {
        document.body.dataset.state = "error";
        setStatus("");
        handleFailure(err, (param) => $(SPEECH_FIELDS[param] || ""));
      }
      if (!run.done) el.result.hidden = run.segments.length === 0;
    } finally {
      state.run = null;
      setBusy(false);
    }
  }

  function onSpeechEvent(run, event) {
    if (event.type === "speech.audio.delta") {
      let bytes = base64Bytes(event.audio);
      run.chunks.push(bytes);
      run.bytes += bytes.length;
      if (run.odd !== null) { // a sample split between two deltas
        const joined = new Uint8Array(bytes.length + 1);
        joined[0] = run.odd;
        joined.set(bytes, 1);
        bytes = joined;
        run.odd = null;
      }
      if (bytes.length % 2) {
        run.odd = bytes[bytes.length - 1];
        bytes = bytes.subarray(0, bytes.length - 1);
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const floats = new Float32Array(bytes.length / 2);
      for (let i = 0; i < floats.length; i++) floats[i] = view.getInt16(i * 2, true) / 32768;
      run.player.push(floats);
      run.deltas += 1;
      if (run.firstAudioMs === null) {
        run.firstAudioMs = performance.now() - run.started;
        setStatus("Playing while the rest is made…");
      }
      document.body.dataset.chunks = String(run.deltas);
    } else if (event.type === "speech.segment") {
      run.segments.push(event);
      addSegment(event);
    } else if (event.type === "speech.audio.done") {
      run.done = event;
    } else if (event.type === "error") {
      const e = event.error || {};
      throw new ApiError(`The speech failed while it was being made: ${e.message || "no details"}`, 500, e.param);
    }
  }

  function finish(run) {
    const pcm = new Uint8Array(run.bytes);
    let offset = 0;
    for (const chunk of run.chunks) {
      pcm.set(chunk, offset);
      offset += chunk.length;
    }
    const seed = run.done.seed ?? run.seed;
    const wav = URL.createObjectURL(wavBlob(pcm, RATE));
    state.urls.push(wav);
    el.player.src = wav;
    el.player.hidden = false;
    el.download.href = wav;
    el.download.download = `f5-tts-${seed}.wav`;
    el.download.hidden = false;
    if (run.segments.length) {
      const vtt = URL.createObjectURL(new Blob([vttOf(run.segments)], { type: "text/vtt" }));
      state.urls.push(vtt);
      el.downloadVtt.href = vtt;
      el.downloadVtt.download = `f5-tts-${seed}.vtt`;
      el.downloadVtt.hidden = false;
    }
    el.reuseSeed.hidden = false;
    state.last = { seed, segments: run.segments };
    el.result.dataset.firstAudioMs = String(Math.round(run.firstAudioMs ?? -1)); // read by the tests
    el.result.dataset.totalMs = String(Math.round(performance.now() - run.started));
    showFacts(run.done, run);
    document.body.dataset.state = "done";
    const duration = run.done.duration_s !== undefined ? ` ${seconds(run.done.duration_s, 1)} of audio,` : "";
    setStatus(`Done:${duration} seed ${seed}. Play it again or download it below.`);
  }

  el.speakForm.addEventListener("submit", (event) => {
    event.preventDefault();
    speak();
  });
  el.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      speak();
    }
  });
  el.text.addEventListener("input", () => {
    const n = el.text.value.length;
    el.count.textContent = `${n} character${n === 1 ? "" : "s"}`;
    if (el.text.getAttribute("aria-invalid") === "true" && el.text.value.trim()) clearError();
  });
  el.stop.addEventListener("click", () => {
    if (state.run) state.run.abort.abort();
    setStatus("Stopped.");
  });
  el.reuseSeed.addEventListener("click", () => {
    if (!state.last) return;
    el.seed.value = String(state.last.seed);
    el.options.open = true;
    setStatus(`Seed ${state.last.seed} will be used again.`);
    el.seed.focus();
  });

  // Replaying the file: the subtitles follow the <audio> element.
  el.player.addEventListener("play", () => {
    if (state.run) return;
    if (state.live) state.live.stop(); // the file replaces the live playback still going
    follow(() => el.player.currentTime, () => !el.player.paused && !el.player.ended, false);
  });
  el.player.addEventListener("ended", () => highlight(null));
  el.player.addEventListener("seeked", () => highlight(el.player.currentTime));

  // ---- new voices: clips from files or the microphone, as WAV --------------------------------------------------
  // Decodes any audio the browser reads and re-encodes it as 16-bit mono WAV at the model's rate.
  async function toWav(blob) {
    const data = await blob.arrayBuffer();
    const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    const decoder = new Offline(1, 1, RATE); // decodeAudioData resamples to the context's rate
    const audio = await decoder.decodeAudioData(data);
    const mono = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const channel = audio.getChannelData(c);
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / audio.numberOfChannels;
    }
    return { wav: wavBlob(floatToInt16Bytes(mono), RATE), seconds: audio.duration };
  }

  // One clip (the reference, or the consent recording): from a file input or the microphone.
  class Clip {
    constructor(prefix, label) {
      this.label = label;
      this.file = $(`${prefix}-file`);
      this.button = $(`${prefix}-record`);
      this.clock = $(`${prefix}-clock`);
      this.preview = $(`${prefix}-preview`);
      this.recorded = null; // a WAV blob from the microphone
      this.recorder = null;
      this.url = null;
      this.file.addEventListener("change", () => {
        if (this.file.files.length) this.setRecorded(null);
        this.showPreview(this.file.files[0] || null);
      });
      this.button.addEventListener("click", () => (this.recorder ? this.stopRecording() : this.startRecording()));
    }

    showPreview(blob) {
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = blob ? URL.createObjectURL(blob) : null;
      if (this.url) this.preview.src = this.url;
      else this.preview.removeAttribute("src");
      this.preview.hidden = !blob;
    }

    setRecorded(wav) {
      this.recorded = wav;
      if (wav) {
        this.file.value = "";
        this.showPreview(wav);
      }
    }

    async startRecording() {
      clearError();
      if (!navigator.mediaDevices || !window.MediaRecorder) {
        showError("This browser cannot record here: recording needs https (or localhost) and a microphone. "
          + "Upload a file instead.", this.file);
        return;
      }
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false,
          noiseSuppression: false, autoGainControl: false } });
      } catch (err) {
        showError(`The microphone is not available (${err.message || err.name}). Allow it, or upload a file.`,
          this.button);
        return;
      }
      const recorder = new MediaRecorder(stream);
      const parts = [];
      this.recorder = recorder;
      recorder.addEventListener("dataavailable", (event) => { if (event.data.size) parts.push(event.data); });
      recorder.addEventListener("stop", async () => {
        stream.getTracks().forEach((t) => t.stop());
        clearInterval(this.timer);
        this.recorder = null;
        this.button.textContent = "Record again";
        this.button.setAttribute("aria-pressed", "false");
        try {
          const { wav, seconds: length } = await toWav(new Blob(parts, { type: recorder.mimeType }));
          this.setRecorded(wav);
          this.clock.textContent = `${length.toFixed(1)} s recorded`;
          setStatus(`${this.label}: ${length.toFixed(1)} s recorded.`);
        } catch (err) {
          showError(`The recording could not be read (${err.message || err.name}); try again or upload a file.`,
            this.button);
        }
      });
      const started = performance.now();
      this.timer = setInterval(() => {
        const t = (performance.now() - started) / 1000;
        this.clock.textContent = `Recording ${t.toFixed(1)} s`;
        if (t >= MAX_RECORD_S) this.stopRecording();
      }, 100);
      recorder.start();
      this.button.textContent = "Stop recording";
      this.button.setAttribute("aria-pressed", "true");
      setStatus(`Recording the ${this.label.toLowerCase()}… press Stop recording when done.`);
    }

    stopRecording() {
      if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    }

    // The clip to upload, as [blob, filename], or null when none was given.
    async blob() {
      if (this.recorded) return [this.recorded, "recording.wav"];
      const file = this.file.files[0];
      if (!file) return null;
      try {
        return [(await toWav(file)).wav, `${file.name.replace(/\.[^.]*$/, "") || "clip"}.wav`];
      } catch (err) {
        if (SERVER_FORMATS.test(file.name)) return [file, file.name]; // the server may read what this browser cannot
        throw Object.assign(new Error(`This browser cannot read “${file.name}” (${err.message || err.name}); `
          + "use a WAV, FLAC, OGG or MP3 file."), { field: this.file });
      }
    }

    reset() {
      this.file.value = "";
      this.setRecorded(null);
      this.showPreview(null);
      this.clock.textContent = "";
      this.button.textContent = "Record";
    }
  }

  const sample = new Clip("sample", "Reference clip");
  const consentClip = new Clip("consent", "Consent recording");

  el.consentChoice.addEventListener("change", () => { el.consentNew.hidden = Boolean(el.consentChoice.value); });
  el.consentName.addEventListener("input", () => {
    const name = el.consentName.value.trim();
    el.consentScript.textContent = `I${name ? `, ${name},` : ""} agree that a synthetic copy of my voice may be made `
      + "and used with F5-TTS.";
  });

  const VOICE_FIELDS = {
    name: "voice-name", audio_sample: "sample-file", ref_text: "ref-text", consent: "consent-choice",
    recording: "consent-file", language: "consent-language",
  };

  async function createConsent() {
    if (el.consentChoice.value) return el.consentChoice.value;
    if (state.lastConsent) return state.lastConsent;
    const name = el.consentName.value.trim();
    if (!name) throw Object.assign(new Error("Give the speaker's name for the consent recording."), { field: el.consentName });
    const clip = await consentClip.blob();
    if (!clip) {
      throw Object.assign(new Error("Record the speaker's consent, or choose a file with it."), { field: consentClip.button });
    }
    const form = new FormData();
    form.append("name", name);
    form.append("language", el.consentLanguage.value.trim());
    form.append("recording", clip[0], clip[1]);
    setStatus("Uploading the consent recording…");
    const consent = await (await api("/v1/audio/voice_consents", { method: "POST", body: form })).json();
    state.lastConsent = consent.id;
    return consent.id;
  }

  el.voiceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const name = el.voiceName.value.trim();
    const refText = el.refText.value.trim();
    el.createVoice.disabled = true;
    document.body.dataset.state = "creating";
    try {
      if (!name) throw Object.assign(new Error("Give the new voice a name."), { field: el.voiceName });
      const clip = await sample.blob();
      if (!clip) throw Object.assign(new Error("Record a reference clip, or choose an audio file."), { field: sample.file });
      if (!refText && !state.server.transcribes) {
        throw Object.assign(new Error("Type the transcript of the clip: this server does not transcribe."),
          { field: el.refText });
      }
      const form = new FormData();
      form.append("name", name);
      form.append("audio_sample", clip[0], clip[1]);
      if (refText) form.append("ref_text", refText);
      if (state.server.consent_required) form.append("consent", await createConsent());
      setStatus(`Creating the voice “${name}”…`);
      const voice = await (await api("/v1/audio/voices", { method: "POST", body: form })).json();
      state.lastConsent = null;
      await loadVoices(voice.id);
      el.voice.value = voice.id;
      describeVoice();
      try { localStorage.setItem(VOICE_STORE, voice.id); } catch { /* not kept */ }
      el.voiceForm.reset();
      sample.reset();
      consentClip.reset();
      el.consentNew.hidden = Boolean(el.consentChoice.value);
      setStatus(`Voice “${voice.name}” created (${voice.id}) and selected.`);
      document.body.dataset.state = "idle";
      el.voice.focus();
    } catch (err) {
      document.body.dataset.state = "error";
      setStatus("");
      if (err instanceof ApiError) handleFailure(err, (param) => $(VOICE_FIELDS[param] || ""));
      else showError(err.message, err.field);
    } finally {
      el.createVoice.disabled = !state.server.store;
    }
  });

  // ---- start ----------------------------------------------------------------------------------------------
  el.apiKey.value = apiKey();
  showKeyState();
  loadVoices();
})();
