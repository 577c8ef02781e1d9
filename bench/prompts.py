"""The prompts every path is asked, and the reply the demo upstream must give (a module of its
own: the orchestrator needs them without importing the Agents SDK, as ``bench.paths`` does)."""

from __future__ import annotations

__all__ = ["LONG_PROMPT", "SHORT_PROMPT", "expected"]

# The demo upstream answers "You said: <prompt>" one word per chunk: 18 words here make a
# 20-chunk stream. Neither prompt may mention the Weather agent's tool ("get weather"): the
# demo upstream would answer with a tool call instead of text.
LONG_PROMPT = "Hello there, this is a short benchmark message of eighteen words, please reply in one line right away."
SHORT_PROMPT = "Hi."


def expected(prompt: str) -> str:
    return f"You said: {prompt}"
