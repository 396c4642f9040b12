"""What the tests and the benchmarks both use, in one package (neither imports the other's files):

- random_model: a randomly initialised F5-TTS (and tiny Whisper) written in the real checkpoint and
  manifest layout, so nothing downloads weights;
- upstream: upstream f5-tts's own inference code, importable beside the worker (parity and the
  comparisons in bench/);
- fake_hub: a local stand-in for the Hugging Face hub that serves such a model in the real
  repositories' layout (build/fetch_models.py and the image tests fetch from it).

Run from the repository root (`python -m support.random_model DIR`), or with it on sys.path.
"""
