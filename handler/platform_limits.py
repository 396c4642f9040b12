"""RunPod's payload limits, in one place (docs/api.md repeats them; a test holds it to these)."""

RESULT_BYTES = 10_000_000  # what a /run job's result may be
INLINE_CEILING_BYTES = 9_500_000  # the highest F5_INLINE_MAX_BYTES: a result's audio plus room for the rest
STREAM_MESSAGE_BYTES = 1_000_000  # what one message on the stream route may be
