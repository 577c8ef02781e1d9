# An async factory export in a namespace: served as labs/asyncfactory.
from agents import Agent


async def create_agent() -> Agent:
    return Agent(name="AsyncFactory", instructions="You were built by an async factory.")
