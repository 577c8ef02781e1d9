# A drop-in with a short run deadline (tests the 504 path).
from agents import Agent

__gateway__ = {"timeout_s": 1.0, "description": "Gives up after one second."}

agent = Agent(name="Timeboxed", instructions="Answer briefly.")
