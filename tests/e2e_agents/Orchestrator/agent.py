# A drop-in that uses another agent as a tool (Agent.as_tool).
from agents import Agent

translator = Agent(name="Translator", instructions="Translate Spanish to English.")
agent = Agent(
    name="Orchestrator",
    instructions="Use the translate tool for Spanish.",
    tools=[translator.as_tool(tool_name="translate", tool_description="Translate Spanish to English.")],
)
