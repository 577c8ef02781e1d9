# A drop-in with a syntax error: it must become a diagnostic while the others serve.
from agents import Agent

agent = Agent(name="Broken", instructions="never served"
