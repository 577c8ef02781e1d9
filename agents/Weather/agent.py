"""Weather: answers questions about the weather with a (deterministic) forecast tool."""

from __future__ import annotations

from agents import Agent, function_tool
from forecasts import forecast_for  # a helper module beside this file


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. "Paris".
    """
    return forecast_for(city)


agent = Agent(
    name="Weather",
    instructions="You are a weather assistant. Use the get_weather tool and answer in one sentence.",
    tools=[get_weather],
)
