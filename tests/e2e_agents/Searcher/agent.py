# A drop-in with a hosted tool (run by the model provider, Responses API only).
from agents import Agent, WebSearchTool

agent = Agent(name="Searcher", instructions="Search the web.", tools=[WebSearchTool()])
