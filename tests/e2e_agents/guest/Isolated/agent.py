# A drop-in asking for worker-process isolation, which this gateway does not offer yet: a
# REGISTER diagnostic, never silently served in-process.
from agents import Agent

__gateway__ = {"isolation": "process"}

agent = Agent(name="Isolated", instructions="Answer briefly.")
