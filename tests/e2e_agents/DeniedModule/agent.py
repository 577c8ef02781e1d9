# Denied by modules.deny in the test security.yaml: importing it would leave a marker file.
import os
from pathlib import Path

Path(os.environ["GW_DENIED_MARKER"]).write_text("imported")

from agents import Agent  # noqa: E402

agent = Agent(name="DeniedModule")
