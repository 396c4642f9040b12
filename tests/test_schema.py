import pytest

from handler.errors import InputError
from handler.schema import parse_request


def parse(data, limit=500):
    return parse_request(data, limit)


def test_defaults():
    request = parse({"text": "Hello"})
    assert (request.nfe_step, request.cfg_strength, request.sway_sampling_coef, request.speed) == (32, 2.0, -1.0, 1.0)
    assert (request.format, request.output, request.stream, request.seed, request.voice) == ("wav", "auto", False, None, None)
    assert request.cross_fade_duration == 0.15 and request.remove_silence is False and request.fix_duration is None


def test_openai_aliases():
    request = parse({"input": "Hello", "response_format": "MP3", "model": "tts-1"})
    assert request.text == "Hello" and request.format == "mp3"


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"text": ""}, "text"),
        ({"text": "   \n"}, "text is empty"),
        ({}, "text: Field required"),
        ({"text": "x", "nfe_step": 100}, "nfe_step"),
        ({"text": "x", "nfe_step": "32"}, "nfe_step: Input should be a valid integer"),
        ({"text": "x", "nfe_step": 3.5}, "nfe_step"),
        ({"text": "x", "speed": float("nan")}, "speed"),
        ({"text": "x", "cfg_strength": float("inf")}, "cfg_strength"),
        ({"text": "x", "seed": -1}, "seed"),
        ({"text": "x", "seed": 2**31}, "seed"),
        ({"text": "x", "stream": "yes"}, "stream"),
        ({"text": "x", "remove_silence": 1}, "remove_silence"),
        ({"text": "x", "format": "aac"}, "format"),
        ({"text": "x", "output": "disk"}, "output"),
        ({"text": "x", "voices": "en"}, "unknown field 'voices'"),
        ({"text": 5}, "text: Input should be a valid string"),
        ({"text": "x", "voice": "en", "ref_audio": "AAAA"}, "not both"),
        ({"text": "x", "ref_text": "hello"}, "'ref_text' goes with 'ref_audio'"),
        ({"text": "x", "input": "y"}, "not both"),
        ({"text": "x", "fix_duration": 0}, "fix_duration"),
    ],
)
def test_bad_input_names_the_field(data, needle):
    with pytest.raises(InputError) as caught:
        parse(data)
    assert needle in str(caught.value)


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_input_must_be_an_object(value):
    with pytest.raises(InputError, match="JSON object"):
        parse(value)


def test_text_over_the_limit():
    with pytest.raises(InputError, match="over the limit of 10"):
        parse({"text": "x" * 11}, limit=10)


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"F5_MAX_BATCH": "many"}, "F5_MAX_BATCH='many' is not a whole number"),
        ({"F5_URL_TIMEOUT": "soon"}, "F5_URL_TIMEOUT='soon' is not a number"),
        ({"F5_MAX_BATCH": "65"}, "F5_MAX_BATCH=65 is out of range [0, 64]"),
        ({"F5_WARMUP": "maybe"}, "F5_WARMUP='maybe' is not a boolean (use 1/0, true/false)"),
        ({"F5_DEVICE": "tpu"}, "F5_DEVICE='tpu' is not one of auto, cuda, cpu"),
    ],
)
def test_bad_settings_name_the_variable(env, needle):
    from handler.config import Settings
    from handler.errors import StartupError

    with pytest.raises(StartupError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == needle


def test_settings_defaults():
    from handler.config import Settings

    settings = Settings.from_env({})
    assert (settings.max_batch, settings.inline_max_bytes, settings.url_timeout_s) == (0, 8_000_000, 15.0)
    assert settings.require_gpu is False and settings.verify_hashes is True
