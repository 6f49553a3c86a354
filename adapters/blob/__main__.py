"""Run the blob emulator alone (what its container runs): ``python -m adapters.blob --help``."""

import sys

from controlplane.standalone import run_alone

sys.exit(run_alone("blob", "Azure Blob Storage emulator"))
