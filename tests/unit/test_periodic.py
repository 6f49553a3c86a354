import asyncio

from controlplane.periodic import Periodic


async def test_runs_repeatedly_survives_a_failure_and_stops() -> None:
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("one bad pass")

    periodic = Periodic("test-job", 0.01, job)
    periodic.start()
    await asyncio.sleep(0.1)
    await periodic.stop()
    seen = len(calls)
    assert seen >= 3
    await asyncio.sleep(0.05)
    assert len(calls) == seen
