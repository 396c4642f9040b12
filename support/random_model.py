"""Write a randomly initialised F5-TTS model of the real architecture, in the baked layout.

The tests use the `tiny` size (a few MB, fast on CPU); the GPU benchmark uses `full`, the
F5TTS_v1_Base architecture and a real-size Vocos, when the real checkpoint is absent: the compute is
the same, only the voice is noise. Checkpoints are written the way upstream publishes them
(safetensors, EMA weights under `ema_model.`), so they load through the worker's real code path.

    python support/random_model.py OUT_DIR [--size tiny|full] [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.f5.modules import f5_package_file, load_f5_modules
from handler.manifest import file_entry, write_manifest

ARCHES = {
    # the real F5TTS_v1_Base DiT (src/f5_tts/configs/F5TTS_v1_Base.yaml)
    "full": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, text_mask_padding=True, conv_layers=4),
    "tiny": dict(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, text_mask_padding=True, conv_layers=1),
}
VOCOS = {
    "full": dict(dim=512, intermediate_dim=1536, num_layers=8),  # charactr/vocos-mel-24khz
    "tiny": dict(dim=32, intermediate_dim=64, num_layers=1),
}


def vocos_config(size: str) -> dict:
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center"},
        },
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": {"input_channels": 100, **VOCOS[size]}},
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": VOCOS[size]["dim"], "n_fft": 1024, "hop_length": 256, "padding": "center"},
        },
    }


def _randomize(module: torch.nn.Module, generator: torch.Generator) -> None:
    # upstream zero-initialises the output layers; random values make the model compute something
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def write_random_model(out: Path, size: str = "tiny", seed: int = 0, name: str | None = None) -> Path:
    from safetensors.torch import save_file
    from vocos import Vocos

    f5 = load_f5_modules()
    generator = torch.Generator().manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    model_dir, vocoder_dir = out / "f5", out / "vocos"
    model_dir.mkdir(exist_ok=True)
    vocoder_dir.mkdir(exist_ok=True)

    vocab = model_dir / "vocab.txt"
    shutil.copyfile(f5_package_file("infer/examples/vocab.txt"), vocab)
    _, vocab_size = f5.get_tokenizer(str(vocab), "custom")
    arch = ARCHES[size]
    transformer = f5.backbones["DiT"](**arch, text_num_embeds=vocab_size, mel_dim=100)
    _randomize(transformer, generator)
    state = {f"ema_model.transformer.{k}": v.contiguous() for k, v in transformer.state_dict().items()}
    state["initted"] = torch.tensor([True])  # EMA bookkeeping, stored unprefixed as upstream does
    state["step"] = torch.tensor([0])
    checkpoint = model_dir / "model_random.safetensors"
    save_file(state, str(checkpoint))

    config = vocoder_dir / "config.yaml"
    config.write_text(yaml.safe_dump(vocos_config(size)), encoding="utf-8")
    vocoder = Vocos.from_hparams(str(config))
    _randomize(vocoder, generator)
    torch.save(vocoder.state_dict(), str(vocoder_dir / "pytorch_model.bin"))

    files = [file_entry(out, p, repo="random", revision=f"seed-{seed}") for p in (checkpoint, vocab, config, vocoder_dir / "pytorch_model.bin")]
    write_manifest(
        out,
        model={
            "name": name or f"random-{size}",
            "backbone": "DiT",
            "arch": arch,
            "checkpoint": "f5/model_random.safetensors",
            "vocab": "f5/vocab.txt",
            "use_ema": True,
        },
        vocoder={"dir": "vocos"},
        asr_dir=None,
        files=files,
    )
    return out


# A tiny random Whisper, saved by transformers in the hub layout of openai/whisper-large-v3-turbo
# (config.json, generation_config.json, model.safetensors, preprocessor_config.json and the tokenizer
# files). Its tokenizer is built here, without the hub: byte-level BPE over lowercase letters and
# space, plus Whisper's special tokens, so whatever it says is text that F5-TTS can speak.
WHISPER_SPECIAL_TOKENS = (
    "<|startoftranscript|>", "<|en|>", "<|zh|>", "<|translate|>", "<|transcribe|>",
    "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>",
)


def write_tiny_whisper(out: Path, seed: int = 0) -> Path:
    import json
    import tempfile

    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    out.mkdir(parents=True, exist_ok=True)
    byte_char = bytes_to_unicode()
    letters = [byte_char[b] for b in b"abcdefghijklmnopqrstuvwxyz"]
    space = byte_char[ord(" ")]
    tokens = [*letters, space, *(space + c for c in letters), "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file, merges_file, normalizer_file = (Path(scratch) / n for n in ("vocab.json", "merges.txt", "normalizer.json"))
        vocab_file.write_text(json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
        merges_file.write_text("#version: 0.2\n" + "".join(f"{space} {c}\n" for c in letters), encoding="utf-8")
        normalizer_file.write_text(json.dumps({"colour": "color"}), encoding="utf-8")
        tokenizer = WhisperTokenizerFast(
            vocab_file=str(vocab_file), merges_file=str(merges_file), normalizer_file=str(normalizer_file),
            additional_special_tokens=list(WHISPER_SPECIAL_TOKENS), pad_token="<|endoftext|>",
        )
        WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer).save_pretrained(out)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ("<|endoftext|>", *WHISPER_SPECIAL_TOKENS)}
    end, start = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=128, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=32,
        bos_token_id=end, eos_token_id=end, pad_token_id=end, decoder_start_token_id=start,
        begin_suppress_tokens=None, suppress_tokens=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(  # as the real generation_config.json, cut down
        bos_token_id=end, eos_token_id=end, pad_token_id=end, decoder_start_token_id=start, max_length=32,
        is_multilingual=True, lang_to_id={t: ids[t] for t in ("<|en|>", "<|zh|>")},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        begin_suppress_tokens=[end], suppress_tokens=[ids[t] for t in WHISPER_SPECIAL_TOKENS],
    )
    model.save_pretrained(out)
    return out


def add_tiny_whisper(model_dir: Path, seed: int = 0) -> Path:
    """Bake a tiny Whisper into a model folder written above: whisper/, listed in manifest.json."""
    import json

    whisper = write_tiny_whisper(model_dir / "whisper", seed)
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    files = [entry for entry in manifest["files"] if not entry["path"].startswith("whisper/")]
    files += [file_entry(model_dir, p, repo="random-whisper", revision=f"seed-{seed}") for p in sorted(whisper.iterdir())]
    write_manifest(model_dir, model=manifest["model"], vocoder=manifest["vocoder"], asr_dir="whisper", files=files)
    return model_dir

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", choices=sorted(ARCHES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_random_model(args.out, args.size, args.seed))
