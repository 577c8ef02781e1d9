# A drop-in that exports nothing the gateway recognises.
from agents import Agent

helper_agent = Agent(name="NoExport")
