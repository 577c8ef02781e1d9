# No model, no model_settings, no tools: what the SDK's defaults send on a Responses upstream.
from agents import Agent

__gateway__ = {"upstream": "fake-responses"}

agent = Agent(name="ResponsesPlain", instructions="Be brief.")
