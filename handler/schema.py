"""The request contract, validated by pydantic. docs/api.md ("Request") documents each field.

`parse_request` turns any input (dict or not) into a TTSRequest or an InputError whose message
names every wrong field and says what it accepts, and whose `field` is the first field at fault.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handler.audio_codec import OUTPUT_FORMATS
from handler.errors import InputError
from handler.text_normalize import FAMILIES

MAX_SEED = 2**31 - 1
FormatName = Literal[tuple(OUTPUT_FORMATS)]  # the codec's list is the contract's
OPENAI_ALIASES = {"input": "text", "response_format": "format"}  # OpenAI's speech API names → the contract's


class TTSRequest(BaseModel):
    # strict: JSON types only ("32" is not a number, 1 is not a boolean), so mistakes are reported, not guessed
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    text: str = Field(min_length=1)
    voice: str | None = Field(default=None, min_length=1, max_length=100)
    ref_audio: str | None = Field(default=None, min_length=1)
    ref_text: str | None = Field(default=None, max_length=1000)
    nfe_step: int = Field(default=32, ge=4, le=64)
    cfg_strength: float = Field(default=2.0, ge=0.0, le=10.0)
    sway_sampling_coef: float = Field(default=-1.0, ge=-1.0, le=1.0)
    speed: float = Field(default=1.0, ge=0.3, le=3.0)
    fix_duration: float | None = Field(default=None, gt=0.0, le=600.0)
    cross_fade_duration: float = Field(default=0.15, ge=0.0, le=1.0)
    remove_silence: bool = False
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    format: FormatName = "wav"
    output: Literal["auto", "inline", "url"] = "auto"
    stream: bool = False
    # speak markup, links, numbers and symbols as words (handler.text_normalize); an object switches families off
    normalize: bool | dict[str, bool] = True
    timestamps: bool = False  # each sentence's start and end in the audio (handler.script, handler.captions)
    captions: Literal["srt", "vtt"] | None = None  # the timestamps as subtitles too (implies timestamps)
    model: str | None = Field(default=None, description="accepted for OpenAI compatibility, ignored")

    @model_validator(mode="before")
    @classmethod
    def _openai_aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for alias, name in OPENAI_ALIASES.items():
            if alias in data:
                if name in data:
                    raise ValueError(_both(name, alias))
                data[name] = data.pop(alias)
        if isinstance(data.get("format"), str):
            data["format"] = data["format"].strip().lower()
        voice = data.get("voice")
        if isinstance(voice, dict) and set(voice) == {"id"}:  # OpenAI's custom voice object: {"id": "voice_…"}
            data["voice"] = voice["id"]
        return data

    @field_validator("text")
    @classmethod
    def _text_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or only whitespace; send the words to speak")
        return value

    @field_validator("normalize", mode="plain")
    @classmethod
    def _normalize_switches(cls, value: Any) -> bool | dict[str, bool]:
        if isinstance(value, bool):
            return value
        if not isinstance(value, dict):
            raise ValueError("must be true, false, or an object that switches rule families on or off, "
                             f'e.g. {{"urls": false}}; families: {", ".join(FAMILIES)}')
        unknown = sorted(str(k) for k in value if k not in FAMILIES)
        if unknown:
            raise ValueError(f"unknown rule families {', '.join(unknown)}; families: {', '.join(FAMILIES)}")
        not_bool = sorted(k for k, v in value.items() if not isinstance(v, bool))
        if not_bool:
            raise ValueError(f"{', '.join(not_bool)}: each family takes true or false")
        return dict(value)

    def families_off(self) -> frozenset[str] | None:
        """The normaliser's families switched off; None when `normalize` is false (no rule runs)."""
        if self.normalize is False:
            return None
        if self.normalize is True:
            return frozenset()
        return frozenset(name for name, on in self.normalize.items() if not on)

    @field_validator("cfg_strength", "sway_sampling_coef", "speed", "fix_duration", "cross_fade_duration")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value



def _both(name: str, alias: str) -> str:
    return f"send either '{name}' or its alias '{alias}', not both"


def _check_timestamp_fields(request: TTSRequest) -> TTSRequest:
    return request.model_copy(update={"timestamps": True}) if request.captions and not request.timestamps else request


def _check_voice_fields(request: TTSRequest) -> None:
    if request.voice is not None and request.ref_audio is not None:
        raise InputError("send either 'voice' (a preset) or 'ref_audio' (a custom reference), not both", field="voice")
    if request.ref_text is not None and request.ref_audio is None:
        raise InputError("'ref_text' goes with 'ref_audio'; presets carry their own transcript", field="ref_text")


def field_bounds(name: str) -> tuple[float, float]:
    """The lowest and highest value the contract accepts for a numeric field."""
    metadata = TTSRequest.model_fields[name].metadata
    low = next(getattr(m, "ge", None) for m in metadata if getattr(m, "ge", None) is not None)
    high = next(getattr(m, "le", None) for m in metadata if getattr(m, "le", None) is not None)
    return low, high


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = error.get("msg", "invalid").removeprefix("Value error, ")
    if not where:  # a rule across fields: its message already names them
        return message
    if error.get("type") == "extra_forbidden":
        known = ", ".join([*sorted(TTSRequest.model_fields), *OPENAI_ALIASES])
        return f"unknown field '{where}' (known fields: {known})"
    if "input" in error and error.get("type") not in ("missing",):
        shown = repr(error["input"])
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return f"{where}: {message} (got {shown})"
    return f"{where}: {message}"


def _field(error: dict) -> str | None:
    location = error.get("loc", ())
    return str(location[0]) if location else None


def parse_request(data: Any, max_text_chars: int) -> TTSRequest:
    if not isinstance(data, dict):
        raise InputError(f"input must be a JSON object with at least 'text', not {type(data).__name__}")
    for alias, name in OPENAI_ALIASES.items():
        if alias in data and name in data:
            raise InputError(f"invalid input: {_both(name, alias)}", field=name)
    try:
        request = TTSRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        raise InputError("invalid input: " + "; ".join(_describe(e) for e in errors), field=_field(errors[0])) from None
    _check_voice_fields(request)
    request = _check_timestamp_fields(request)
    if len(request.text) > max_text_chars:
        raise InputError(f"text: {len(request.text)} characters is over the limit of {max_text_chars}; split it",
                         field="text")
    return request
