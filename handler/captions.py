"""Timed sentences and the subtitle files made from them (SRT, WebVTT)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    text: str  # as the caller wrote it
    spoken: str  # as it was spoken (normalised)
    start_s: float
    end_s: float
    estimated: bool = False  # every boundary here is exact: where a chunk's audio joins the next

    def public(self) -> dict:
        return {"text": self.text, "spoken": self.spoken, "start_s": self.start_s, "end_s": self.end_s,
                "estimated": self.estimated}


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _line(text: str) -> str:
    return " ".join(text.split())  # one line: a blank line would end the cue


def srt(segments: list[Segment] | tuple[Segment, ...]) -> str:
    cues = [f"{number}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{_line(s.text)}\n"
            for number, s in enumerate(segments, start=1)]
    return "\n".join(cues)


def vtt(segments: list[Segment] | tuple[Segment, ...]) -> str:
    cues = [f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{_line(s.text).replace('-->', '->')}\n"
            for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


CAPTION_FORMATS = {"srt": srt, "vtt": vtt}
