# An agent limited to two turns (tests MaxTurnsExceeded -> 500 max_turns_exceeded).
from agents import Agent, function_tool

__gateway__ = {"max_turns": 2}


@function_tool
def ping() -> str:
    """Ping."""
    return "pong"


agent = Agent(name="Looper", instructions="Call ping forever.", tools=[ping])
