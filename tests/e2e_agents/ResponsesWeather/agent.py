# A drop-in with a function tool, run by the SDK's Responses model.
from agents import Agent, function_tool

__gateway__ = {"upstream": "fake-responses"}


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Rain in {city}"


agent = Agent(name="ResponsesWeather", instructions="Answer with the weather.", tools=[get_weather])
