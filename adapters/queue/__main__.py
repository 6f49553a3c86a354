"""Run the queue emulator alone (what its container runs): ``python -m adapters.queue --help``."""

import sys

from controlplane.standalone import run_alone

sys.exit(run_alone("queue", "Azure Queue Storage emulator"))
