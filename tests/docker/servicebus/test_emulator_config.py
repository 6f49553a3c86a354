"""tests/sdk/servicebus/test_emulator_config.py against the localzure-servicebus container: the
control plane reads the Config.json and hands its content, with the YAML's entities, to the
container (which cannot see the file)."""

import pytest

from tests.docker.servicebus.conftest import DockerServiceBus, ServiceBusControlPlanes
from tests.sdk.servicebus.test_emulator_config import *  # noqa: F403
from tests.sdk.servicebus.test_emulator_config import SETTINGS


# Replaces the SDK module's fixture of the same name (imported above).
@pytest.fixture(scope="module")  # type: ignore[no-redef]
def emulator(servicebus_control_planes: ServiceBusControlPlanes) -> DockerServiceBus:
    return servicebus_control_planes.running(SETTINGS)
