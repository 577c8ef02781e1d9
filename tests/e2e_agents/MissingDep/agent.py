# A drop-in whose dependency is not installed.
import not_installed_dependency_xyz  # noqa: F401
from agents import Agent

agent = Agent(name="MissingDep")
