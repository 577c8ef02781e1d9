"""Deterministic canned forecasts (a helper module imported by agent.py as a sibling)."""

from __future__ import annotations

_CONDITIONS = {"london": ("Rainy", 14), "oslo": ("Snowy", -3), "cairo": ("Clear", 33)}


def forecast_for(city: str) -> str:
    condition, celsius = _CONDITIONS.get(city.strip().lower(), ("Sunny", 21))
    return f"{condition}, {celsius}°C in {city.strip()}"
