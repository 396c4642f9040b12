# The naive baseline for bench/image_size.sh: one stage, `pip install f5-tts`, nothing baked.
# Same base image as the real Dockerfile. Not for use: it downloads its model at run time.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir f5-tts
CMD ["/venv/bin/python", "-c", "import f5_tts.api"]
