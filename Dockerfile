# F5-TTS RunPod serverless worker: everything baked in.
# Stages: python-base → deps (locked venv) → weights (verified model files) → baked (the checkpoint
# in float16, converted on the deps venv) → runtime (slim).
# Buildable by Docker BuildKit and by buildah/podman 4.x: no heredocs in RUN, no COPY --link.
# Build arguments are documented in README.md ("Build your own image").

ARG BASE_IMAGE=debian:bookworm-slim

# ---- python-base: Debian's Python 3.11 and CA certificates, nothing else ---------------------------
FROM ${BASE_IMAGE} AS python-base
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# ---- deps: the worker's virtual environment, every package pinned by hash ---------------------------
FROM python-base AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
# torch and torchaudio come as a matched pair from one lock: requirements/lock/image-torch<V>.txt.
# The default is the first variant of build/variants.json (tests/test_facts.py holds this copy to it).
ARG TORCH_VERSION=2.8.0
ARG BAKE_ASR=0
# triton (about 540 MB) serves only torch.compile, which the worker does not use; 1 keeps it
ARG WITH_TRITON=0
COPY requirements/lock/ /tmp/lock/
RUN --mount=type=cache,target=/root/.cache/pip \
    set -e; \
    lock="/tmp/lock/image-torch${TORCH_VERSION}.txt"; \
    if [ "$BAKE_ASR" = "1" ]; then lock="/tmp/lock/image-torch${TORCH_VERSION}-asr.txt"; fi; \
    if [ ! -f "$lock" ]; then echo "no lock $lock: run scripts/lock.sh ${TORCH_VERSION} first" >&2; exit 1; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --require-hashes --no-deps -r "$lock"; \
    /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/lock/f5-tts.txt; \
    if [ "$WITH_TRITON" != "1" ]; then /opt/venv/bin/pip uninstall -y -q triton; fi; \
    /opt/venv/bin/pip uninstall -y -q pip
# What no inference reads (bench/venv_trace.py traces what the worker opens and maps): C/C++
# headers, static libraries and CMake files, for compiling against torch and CUDA (the worker
# compiles nothing: no torch.compile, no extensions), and packages it never imports: networkx
# (torch's, for torch.compile), librosa with numba, llvmlite and scikit-learn (f5-tts imports
# librosa only for BigVGAN mels; the worker serves Vocos models, and handler/deferred_imports.py
# keeps f5-tts's import of it from loading it). Shared libraries all stay: CUDA loads some on
# demand, which a CPU trace cannot see.
RUN set -e; before=$(du -sk /opt/venv); before=${before%%[[:space:]]*}; \
    site=$(echo /opt/venv/lib/python3*/site-packages); \
    find "$site" -depth -type d -name include -exec rm -rf {} +; \
    find "$site" -type f \( -name '*.a' -o -name '*.h' -o -name '*.hpp' -o -name '*.cuh' \) -delete; \
    find "$site" -depth -type d -name cmake -path '*/share/cmake' -exec rm -rf {} +; \
    rm -rf "$site"/sklearn "$site"/scikit_learn-*.dist-info "$site"/scikit_learn.libs \
      "$site"/networkx "$site"/networkx-*.dist-info \
      "$site"/librosa "$site"/librosa-*.dist-info "$site"/numba "$site"/numba-*.dist-info \
      "$site"/llvmlite "$site"/llvmlite-*.dist-info; \
    after=$(du -sk /opt/venv); after=${after%%[[:space:]]*}; \
    echo "pruned $(( (before - after) / 1024 )) MB: headers, static libraries, CMake files, networkx, librosa, numba, llvmlite, scikit-learn"

# ---- weights: download, verify against the hub's hashes, write manifest.json -----------------------
FROM python-base AS weights
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/lock/fetch.txt requirements/lock/f5-tts.txt /tmp/lock/
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/fetch \
 && /opt/fetch/bin/pip install --require-hashes --no-deps -r /tmp/lock/fetch.txt -r /tmp/lock/f5-tts.txt
COPY handler/__init__.py handler/errors.py handler/manifest.py /opt/fetch-code/handler/
COPY handler/f5/__init__.py handler/f5/checkpoint_keys.py handler/f5/modules.py handler/f5/deferred_imports.py \
     /opt/fetch-code/handler/f5/
COPY build/fetch_models.py /opt/fetch-code/build/
# What to bake. Empty revisions mean the commits pinned in build/fetch_models.py (main where none is);
# the repository and model defaults below are its defaults too (tests/test_facts.py compares them).
ARG F5_MODEL=F5TTS_v1_Base
ARG F5_REVISION=
ARG CUSTOM_REPO=
ARG CUSTOM_CHECKPOINT=
ARG CUSTOM_VOCAB=
ARG CUSTOM_CONFIG=F5TTS_v1_Base
ARG VOCODER_REPO=charactr/vocos-mel-24khz
ARG VOCODER_REVISION=
ARG BAKE_ASR=0
ARG ASR_REPO=openai/whisper-large-v3-turbo
ARG ASR_REVISION=
ARG HF_ENDPOINT=https://huggingface.co
# HF_TOKEN only as a build secret (id=hf_token): never an ARG, which would stay in the image history
RUN --mount=type=secret,id=hf_token \
    HF_ENDPOINT="$HF_ENDPOINT" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_ENABLE_HF_TRANSFER=0 \
    /opt/fetch/bin/python /opt/fetch-code/build/fetch_models.py --out /models \
      --model "$F5_MODEL" --revision "$F5_REVISION" \
      --custom-repo "$CUSTOM_REPO" --custom-checkpoint "$CUSTOM_CHECKPOINT" \
      --custom-vocab "$CUSTOM_VOCAB" --custom-config "$CUSTOM_CONFIG" \
      --vocoder-repo "$VOCODER_REPO" --vocoder-revision "$VOCODER_REVISION" \
      --asr "$BAKE_ASR" --asr-repo "$ASR_REPO" --asr-revision "$ASR_REVISION" \
      --checkpoint-dtype float32

# ---- baked: the checkpoint's EMA weights in float16 (half the bytes to pull and read) -------------
# Converted from the verified download with the worker's own torch; the manifest keeps the source
# file's sha256 next to the baked one's. KEEP_FP32=1 bakes the downloaded file unchanged.
FROM deps AS baked
COPY --from=weights /models /models
COPY handler/__init__.py handler/errors.py handler/manifest.py /opt/fetch-code/handler/
COPY handler/f5/__init__.py handler/f5/checkpoint_keys.py handler/f5/modules.py handler/f5/deferred_imports.py \
     /opt/fetch-code/handler/f5/
COPY build/fetch_models.py /opt/fetch-code/build/
ARG KEEP_FP32=0
RUN if [ "$KEEP_FP32" = "1" ]; then echo "KEEP_FP32=1: the checkpoint stays as published"; \
    else /opt/venv/bin/python /opt/fetch-code/build/fetch_models.py --out /models --halve-existing; fi

# ---- runtime: the venv, the weights, the code; no compilers, no pip, no network at run time --------
FROM python-base AS runtime
RUN groupadd --gid 10001 worker \
 && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin worker
COPY --from=deps /opt/venv /opt/venv
COPY --from=baked /models /models
COPY handler/ /app/handler/
# bytecode compiled at build time: the worker's user cannot write /app, so it would compile every start
RUN python3 -m compileall -q /app/handler
COPY test_input.json /app/test_input.json
ENV PATH=/opt/venv/bin:$PATH \
    F5_MODEL_DIR=/models \
    F5_REQUIRE_GPU=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    RUNPOD_LOG_LEVEL=INFO \
    HOME=/home/worker
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/python", "-m", "handler"]
# Per-build metadata last, so that a new commit reuses every layer above
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/OWNER/f5-tts-runpod
LABEL org.opencontainers.image.title="f5-tts-runpod" \
      org.opencontainers.image.description="F5-TTS text-to-speech as a RunPod serverless worker, model baked in" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT (code); model weights under their own licence (F5-TTS: CC-BY-NC-4.0)"
