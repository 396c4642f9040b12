"""The HTTP mode's web page (handler/web/, docs/web.md) in a real browser.

Debian's Chromium (`apt-get install chromium`, which scripts/dev-setup.sh does) driven by Playwright,
pointed at the system browser: nothing is downloaded. One `python -m handler serve` for the module, on
the tiny random model (its voice is noise, its plumbing real), with a folder voice store, consent
required and an API key, as a RunPod load-balancing endpoint would have. Chromium's fake microphone
stands in for a person recording their consent.

A missing browser or playwright is a failure, never a skip. Screenshots are kept in the folder named by
F5_TEST_ARTIFACTS (else a temporary one); with F5_UPDATE_DOCS_SCREENSHOT=1 the desktop one also replaces
docs/web-page.png, the README's picture.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT

from support.servers import http_server

KEY = "web-page-test-key"
RATE = 24_000
TWO_SENTENCES = "Hello there. This is the second sentence of the test."
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",  # the live playback starts without a real click
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",  # a microphone that beeps
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def chromium() -> str:
    """The system Chromium: F5_TEST_CHROMIUM, else `chromium` (Debian's) or `chromium-browser` on PATH, else
    Google Chrome (what GitHub's runners have)."""
    for candidate in (os.environ.get("F5_TEST_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("the web page tests need Chromium and found none: run scripts/dev-setup.sh (it runs "
                "`apt-get install -y chromium`), or set F5_TEST_CHROMIUM to a Chromium binary")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: install requirements/dev.txt (scripts/dev-setup.sh does)")
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("web-voices")
    with http_server(tiny_model_dir, F5_VOICE_STORE=str(store), F5_VOICE_CONSENT="1", F5_API_KEY=KEY,
                     F5_WARMUP="0") as url:
        yield url


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("F5_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("web-artifacts")


class Tab:
    """One page in a fresh browser context, recording console errors, uncaught exceptions and requests."""

    def __init__(self, browser, url: str, key: str | None, viewport: dict):
        self.url = url
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.context.grant_permissions(["microphone"], origin=url)
        if key is not None:  # as if typed into the page earlier: it keeps the key in localStorage
            self.context.add_init_script(f"try {{ localStorage.setItem('f5tts.apiKey', {json.dumps(key)}) }} catch {{}}")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))
        self.page.on("request", lambda r: self.requests.append(r))

    def open(self) -> Tab:
        self.page.goto(self.url)
        self.wait("document.body.dataset.state !== 'loading'")
        return self

    def js(self, expression: str):
        return self.page.evaluate(expression)

    def wait(self, expression: str, timeout: float = 60.0):
        """Polls a JavaScript expression until it is truthy (the page's Content-Security-Policy forbids
        the eval that Playwright's own wait_for_function needs, and the tests keep that policy on)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {expression}\nerror shown: {self.error()!r}\n"
                                     f"status: {self.page.inner_text('#status')!r}\nbrowser: {self.errors}")
            time.sleep(0.05)

    def error(self) -> str:
        return self.page.inner_text("#error")

    def speech_requests(self) -> list:
        return [r for r in self.requests if r.url.endswith("/v1/audio/speech")]

    def fast(self, seed: int | None = None) -> None:
        """Few steps, so the tiny model answers quickly; a fixed seed when given."""
        if not self.page.is_visible("#nfe-step"):
            self.page.click("#options summary")
        self.page.fill("#nfe-step", "4")
        self.page.fill("#seed", "" if seed is None else str(seed))

    def speak_and_wait(self) -> float:
        """Speaks (the button), waits until the audio element holds the file; its duration."""
        self.page.click("#speak")
        self.wait("document.body.dataset.state === 'done' || document.body.dataset.state === 'error'", timeout=120)
        assert self.js("document.body.dataset.state") == "done", self.error()
        return self.duration()

    def duration(self) -> float:
        """The audio element's duration, once it has loaded the file (NaN before)."""
        self.wait("document.getElementById('player').duration > 0", timeout=30)
        return self.js("document.getElementById('player').duration")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser, server):
    opened: list[Tab] = []

    def open_tab(key: str | None = KEY, viewport: dict = DESKTOP) -> Tab:
        tab = Tab(browser, f"{server}/", key, viewport)
        opened.append(tab)
        return tab.open()

    yield open_tab
    for tab in opened:
        tab.close()


def api(server: str, path: str) -> dict:
    response = httpx.get(f"{server}{path}", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_page_loads_clean_with_labelled_controls_and_nothing_from_elsewhere(tabs, server):
    tab = tabs()
    assert tab.errors == []
    assert tab.error() == ""
    voices = tab.js("[...document.querySelectorAll('#voice option')].map(o => o.value)")
    assert voices[:2] == ["en", "zh"]
    assert tab.js("document.getElementById('voice').value") == "en"  # the server's default
    assert tab.page.inner_text("#key-state") == "API key saved"
    # every form control has a label (or is a button with text), every request stayed on this origin
    unlabelled = tab.js("""[...document.querySelectorAll('input, select, textarea, button')]
        .filter(c => c.tagName === 'BUTTON' ? !c.textContent.trim() : c.labels.length === 0).map(c => c.id)""")
    assert unlabelled == []
    assert [r.url for r in tab.requests if not r.url.startswith(server)] == []
    # what creating a voice takes here, as the server says
    info = api(server, "/v1/audio/voices")
    assert info["store"] and info["consent_required"]
    tab.page.click("#new-voice summary")
    assert tab.page.is_visible("#consent-fields")
    assert tab.js("document.getElementById('ref-text').required") == (not info["transcribes"])
    # the API key went with the request
    [listing] = [r for r in tab.requests if "/v1/audio/voices" in r.url][:1]
    assert listing.headers["authorization"] == f"Bearer {KEY}"


def test_it_speaks_while_the_audio_is_made_and_gives_the_file(tabs, artifacts):
    tab = tabs()
    tab.fast(seed=1234)
    tab.page.fill("#text", TWO_SENTENCES)
    tab.page.focus("#text")
    tab.page.keyboard.press("Control+Enter")  # the keyboard way
    tab.wait("document.body.dataset.state === 'done'", timeout=120)
    duration = tab.duration()
    assert duration > 0.5
    [request] = tab.speech_requests()
    body = request.post_data_json
    assert body["input"] == TWO_SENTENCES and body["voice"] == "en" and body["seed"] == 1234 and body["nfe_step"] == 4
    assert (body["response_format"], body["stream_format"], body["timestamps"]) == ("pcm", "sse", True)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    # heard as it came: every delta was scheduled on the Web Audio clock, and the sentence playing lit up
    chunks = int(tab.js("document.body.dataset.chunks"))
    assert chunks >= 2  # one sentence a chunk (timestamps)
    first_ms, total_ms = tab.js("[+document.getElementById('result').dataset.firstAudioMs, "
                                "+document.getElementById('result').dataset.totalMs]")
    assert 0 < first_ms < total_ms  # the first sentence came (and was scheduled) before the second was made
    tab.wait("document.querySelector('.cue[aria-current=\"true\"]')", timeout=30)
    tab.wait(f"document.body.dataset.played === '{chunks}'", timeout=30)  # each chunk played to its end
    cues = tab.js("[...document.querySelectorAll('#subtitles .cue')].map(c => c.textContent)")
    assert len(cues) == 2 and cues[0].endswith("Hello there.") and cues[1].endswith("second sentence of the test.")
    facts = tab.page.inner_text("#facts")
    assert "Seed\n1234" in facts and "Model" in facts and "First audio (here)" in facts
    assert "seed 1234" in tab.page.inner_text("#status")
    shot = artifacts / "web-page-desktop.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("F5_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "web-page.png")
    # the download is the same audio: a 24 kHz mono WAV as long as the audio element says
    with tab.page.expect_download() as download:
        tab.page.click("#download")
    assert download.value.suggested_filename == "f5-tts-1234.wav"
    samples, rate = sf.read(download.value.path())
    assert rate == RATE and samples.ndim == 1 and abs(len(samples) / RATE - duration) < 0.01
    assert np.abs(samples).max() > 0
    with tab.page.expect_download() as download:
        tab.page.click("#download-vtt")
    vtt = Path(download.value.path()).read_text()
    assert vtt.startswith("WEBVTT\n") and vtt.count(" --> ") == 2 and "Hello there." in vtt
    assert tab.errors == []


def test_empty_text_and_a_refused_field_are_shown_in_words(tabs):
    tab = tabs()
    for text in ("", "   \n "):
        tab.page.fill("#text", text)
        tab.page.click("#speak")
        assert "text is empty" in tab.error()
        assert tab.js("document.activeElement.id") == "text"
        assert tab.page.get_attribute("#text", "aria-invalid") == "true"
    assert tab.speech_requests() == []  # refused here, before any request
    assert tab.errors == []
    # a field the server refuses: its message, and the field marked
    tab.page.fill("#text", "Hello.")
    tab.fast()
    tab.page.fill("#nfe-step", "100")
    tab.page.click("#speak")
    tab.wait("document.body.dataset.state === 'error'")
    assert "The server answered 400" in tab.error() and "nfe_step" in tab.error()
    assert tab.page.get_attribute("#nfe-step", "aria-invalid") == "true"
    assert [e for e in tab.errors if "status of 400" not in e] == []  # Chromium logs the 400 itself


def test_the_api_key_field_unlocks_the_server_and_stays_in_the_browser(tabs):
    tab = tabs(key=None)
    assert "401" in tab.error() and "missing or wrong API key" in tab.error()
    assert tab.js("document.getElementById('connection').open") and tab.js("document.activeElement.id") == "api-key"
    assert tab.js("document.querySelectorAll('#voice option').length") == 0
    tab.page.fill("#api-key", KEY)
    tab.page.keyboard.press("Enter")
    tab.wait("document.querySelectorAll('#voice option').length >= 2")
    assert tab.error() == "" and tab.page.inner_text("#key-state") == "API key saved"
    tab.page.reload()
    tab.wait("document.querySelectorAll('#voice option').length >= 2")
    assert tab.error() == "" and tab.js("localStorage.getItem('f5tts.apiKey')") == KEY
    assert [e for e in tab.errors if "status of 401" not in e] == []  # Chromium logs the 401 itself


def reference_clip(path: Path, seconds: float = 3.0) -> Path:
    """A speech-like clip (a voiced buzz with a syllable rhythm), 44.1 kHz stereo: the page converts it."""
    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    rhythm = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    mono = 0.2 * voice * rhythm / np.abs(voice).max()
    sf.write(path, np.stack([mono, mono], axis=1).astype(np.float32), rate, subtype="PCM_16")
    return path


def test_a_new_voice_from_an_upload_and_a_recorded_consent_can_be_picked_and_spoken(tabs, server, tmp_path):
    tab = tabs()
    tab.page.click("#new-voice summary")
    tab.page.fill("#voice-name", "Web test voice")
    tab.page.set_input_files("#sample-file", str(reference_clip(tmp_path / "reference.wav")))
    tab.page.fill("#ref-text", "Some call me nature, others call me mother nature.")
    tab.page.fill("#consent-name", "Test Speaker")
    tab.page.click("#consent-record")  # Chromium's fake microphone
    tab.wait("document.getElementById('consent-record').getAttribute('aria-pressed') === 'true'")
    time.sleep(1.5)
    tab.page.click("#consent-record")
    tab.wait("!document.getElementById('consent-preview').hidden")
    assert "s recorded" in tab.page.inner_text("#consent-clock")
    tab.page.click("#create-voice")
    tab.wait("document.body.dataset.state !== 'creating'", timeout=60)
    assert tab.error() == ""
    voice_id = tab.js("document.getElementById('voice').value")
    assert voice_id.startswith("voice_") and "created" in tab.page.inner_text("#status")
    # stored: the reference (44.1 kHz stereo, converted in the page), and the consent recording, which the
    # server could not have read as recorded (WebM: the page made it a WAV), with its speaker
    voice = api(server, f"/v1/audio/voices/{voice_id}")
    assert voice["name"] == "Web test voice" and abs(voice["duration_s"] - 3.0) < 0.3
    consent = api(server, f"/v1/audio/voice_consents/{voice['consent']}")
    assert consent["name"] == "Test Speaker" and consent["language"] == "en-US"
    [upload] = [r for r in tab.requests if r.method == "POST" and r.url.endswith("/v1/audio/voices")]
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    assert tab.errors == []

    # another visit: the voice is in the list, picked by its name, and spoken
    later = tabs()
    label = later.js(f"document.querySelector('#voice option[value=\"{voice_id}\"]').textContent")
    assert label == "Web test voice"
    later.page.select_option("#voice", label="Web test voice")
    later.fast()
    later.page.fill("#text", "Hello in the new voice.")
    assert later.speak_and_wait() > 0
    [request] = later.speech_requests()
    assert request.post_data_json["voice"] == {"id": voice_id}
    assert later.errors == []


def test_it_fits_a_phone(tabs, artifacts):
    tab = tabs(viewport=PHONE)
    tab.fast()
    tab.page.fill("#text", "Hello there.")
    assert tab.speak_and_wait() > 0
    assert tab.js("document.documentElement.scrollWidth <= window.innerWidth")  # nothing wider than the screen
    tab.page.screenshot(path=str(artifacts / "web-page-phone.png"), full_page=True)
    assert tab.errors == []


def test_stop_ends_the_speech_and_the_page_speaks_again(tabs, server):
    tab = tabs()
    tab.fast()
    tab.page.fill("#text", " ".join(f"Sentence number {n} of a long text, read aloud." for n in range(1, 30)))
    tab.page.click("#speak")
    tab.wait("+(document.body.dataset.chunks || 0) >= 1 && document.body.dataset.state === 'speaking'")
    tab.page.click("#stop")
    tab.wait("document.body.dataset.state === 'idle'")
    assert tab.page.inner_text("#status") == "Stopped." and tab.error() == ""
    assert tab.js("document.getElementById('speak').disabled") is False
    tab.page.fill("#text", "Hello again.")
    assert tab.speak_and_wait() > 0  # the server freed the stopped request's slot
    assert tab.errors == []
