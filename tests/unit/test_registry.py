import pytest

from controlplane.adapter import Adapter, Service, ServiceContext
from controlplane.registry import RegistryError, discover, start_order


def make(name: str, *deps: str) -> Adapter:
    class Fake(Adapter):
        default_port = 0
        depends_on = deps

        def create_service(self, context: ServiceContext) -> Service:
            raise NotImplementedError

    adapter = Fake()
    adapter.name = name
    return adapter


def names(adapters: list[Adapter]) -> list[str]:
    return [a.name for a in adapters]


def test_dependencies_start_first() -> None:
    order = names(start_order([make("app", "db", "cache"), make("cache", "db"), make("db")]))
    assert order.index("db") < order.index("cache") < order.index("app")


def test_independent_adapters_keep_a_stable_order() -> None:
    assert names(start_order([make("queue"), make("blob"), make("table")])) == ["blob", "queue", "table"]


def test_missing_dependency_names_both_services() -> None:
    with pytest.raises(RegistryError) as info:
        start_order([make("servicebus", "sql")])
    assert "servicebus" in str(info.value) and "'sql'" in str(info.value)


def test_cycle_names_the_whole_cycle() -> None:
    with pytest.raises(RegistryError) as info:
        start_order([make("a", "b"), make("b", "c"), make("c", "a"), make("d")])
    assert "a -> b -> c -> a" in str(info.value)


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(RegistryError, match="a -> a"):
        start_order([make("a", "a")])


def test_installed_adapters_are_found_through_entry_points() -> None:
    adapters = discover()
    assert "queue" in adapters
    assert adapters["queue"].default_port == 10001
