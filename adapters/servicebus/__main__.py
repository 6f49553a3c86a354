"""Run the Service Bus emulator alone (what its container runs): ``python -m adapters.servicebus --help``."""

import sys

from controlplane.standalone import run_alone

sys.exit(run_alone("servicebus", "Azure Service Bus emulator (AMQP 1.0 and the management API on one port)"))
