"""Run the table emulator alone (what its container runs): ``python -m adapters.table --help``."""

import sys

from controlplane.standalone import run_alone

sys.exit(run_alone("table", "Azure Table Storage emulator"))
