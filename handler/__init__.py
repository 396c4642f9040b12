"""F5-TTS RunPod serverless worker.

Importing this package has no side effects: no model is loaded, no `runpod` import happens.
`python -m handler` starts the worker (see `handler.__main__`).
"""

__version__ = "0.1.0"
