# A workflow export whose agent uses a hosted tool, served on the (Chat Completions) default
# upstream: a 400 naming the tool and the upstream, as for agent exports, not a 500.
from agents import Agent, Runner, WebSearchTool
from pydantic import BaseModel

researcher = Agent(name="Researcher", instructions="Search the web.", tools=[WebSearchTool()])


class WorkflowInput(BaseModel):
    input_as_text: str


async def run_workflow(workflow_input: WorkflowInput) -> dict[str, str]:
    result = await Runner.run(researcher, input=workflow_input.input_as_text)
    return {"output_text": result.final_output_as(str)}
