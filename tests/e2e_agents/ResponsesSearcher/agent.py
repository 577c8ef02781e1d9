# A drop-in with a hosted tool, routed to an upstream that speaks the Responses API.
from agents import Agent, WebSearchTool

__gateway__ = {"upstream": "fake-responses"}

agent = Agent(name="ResponsesSearcher", instructions="Search the web, then answer.", tools=[WebSearchTool()])
