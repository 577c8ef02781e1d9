"""Extractor: pulls a contact (name and email) out of free text as structured output."""

from __future__ import annotations

from agents import Agent
from pydantic import BaseModel


class Contact(BaseModel):
    name: str
    email: str


def build_agent() -> Agent[None]:
    return Agent(
        name="Extractor",
        instructions="Extract the contact's name and email address from the user's message.",
        output_type=Contact,
    )
