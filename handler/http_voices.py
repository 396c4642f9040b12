"""The HTTP mode's voice routes, as OpenAI's API has them: stored voices and consent recordings.

  GET    /v1/audio/voices                 presets, then stored voices (?limit=, ?after=)
  POST   /v1/audio/voices                 multipart: name, audio_sample, consent, ref_text
  GET    /v1/audio/voices/{id}            DELETE /v1/audio/voices/{id}
  GET    /v1/audio/voice_consents         ?limit=, ?after=
  POST   /v1/audio/voice_consents         multipart: name, language, recording
  GET    /v1/audio/voice_consents/{id}    POST (rename: {"name"})    DELETE
Thin: each route reads its fields and calls handler.voice_api.VoiceApi in a thread.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handler.http_common import ApiError, HttpState, call, gate, read_form, read_json
from handler.voice_api import SAMPLE_MAX_BYTES

FORM_LIMIT = SAMPLE_MAX_BYTES + 1_000_000  # one audio file and a few short fields


def _text(form: dict, name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, bytes):
        raise ApiError(400, f"{name} must be a form field, not a file", "invalid_request", name)
    return value


def _file(form: dict, name: str) -> bytes | None:
    value = form.get(name)
    return value.encode() if isinstance(value, str) else value


def voice_routes(state: HttpState) -> list[Route]:
    def api():
        return state.service.voice_api

    async def list_voices(request: Request) -> Response:
        gate(state, request)
        page = await call(state, api().list_voices, limit=request.query_params.get("limit"),
                          after=request.query_params.get("after"))
        presets = state.service.voices.presets
        # as this route answered before stored voices: the preset names and the default voice; and what
        # creating a voice takes here (the web page reads it)
        api_now = api()
        return JSONResponse({**page, "voices": sorted(presets), "default": state.service.settings.default_voice,
                             "store": api_now.store is not None, "consent_required": api_now.consent_required,
                             "transcribes": state.service.voices.can_transcribe})

    async def create_voice(request: Request) -> Response:
        gate(state, request)
        form = await read_form(request, FORM_LIMIT)
        voice = await call(state, api().create_voice, name=_text(form, "name"), audio_sample=_file(form, "audio_sample"),
                           ref_text=_text(form, "ref_text"), consent=_text(form, "consent"))
        return JSONResponse(voice)

    async def voice(request: Request) -> Response:
        gate(state, request)
        voice_id = request.path_params["voice_id"]
        if request.method == "DELETE":
            return JSONResponse(await call(state, api().delete_voice, voice_id))
        return JSONResponse(await call(state, api().voice, voice_id))

    async def list_consents(request: Request) -> Response:
        gate(state, request)
        return JSONResponse(await call(state, api().list_consents, limit=request.query_params.get("limit"),
                                       after=request.query_params.get("after")))

    async def create_consent(request: Request) -> Response:
        gate(state, request)
        form = await read_form(request, FORM_LIMIT)
        return JSONResponse(await call(state, api().create_consent, name=_text(form, "name"),
                                       language=_text(form, "language"), recording=_file(form, "recording")))

    async def consent(request: Request) -> Response:
        gate(state, request)
        consent_id = request.path_params["consent_id"]
        if request.method == "DELETE":
            return JSONResponse(await call(state, api().delete_consent, consent_id))
        if request.method == "POST":
            body = await read_json(request, 64 * 1024)
            name = body.get("name") if isinstance(body, dict) else None
            return JSONResponse(await call(state, api().rename_consent, consent_id, name=name))
        return JSONResponse(await call(state, api().consent, consent_id))

    return [
        Route("/v1/audio/voices", list_voices, methods=["GET"]),
        Route("/v1/audio/voices", create_voice, methods=["POST"]),
        Route("/v1/audio/voices/{voice_id}", voice, methods=["GET", "DELETE"]),
        Route("/v1/audio/voice_consents", list_consents, methods=["GET"]),
        Route("/v1/audio/voice_consents", create_consent, methods=["POST"]),
        Route("/v1/audio/voice_consents/{consent_id}", consent, methods=["GET", "POST", "DELETE"]),
    ]
