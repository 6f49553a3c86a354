"""Routing on a service's own port: path-style accounts, hostname style, and accountless paths."""

from __future__ import annotations

import pytest

from adapters.queue.adapter import QueueAdapter
from controlplane.gateway.errors import AzureError
from controlplane.gateway.routing import HostRouter, route_path_style


@pytest.fixture
def router() -> HostRouter:
    return HostRouter([QueueAdapter()])


def test_path_style_takes_the_account_from_the_first_segment(router: HostRouter) -> None:
    target = route_path_style("queue", "127.0.0.1:10001", "/devstoreaccount1/q/messages", router)
    assert (target.account, target.path, target.path_style) == ("devstoreaccount1", "/q/messages", True)
    secondary = route_path_style("queue", "127.0.0.1:10001", "/devstoreaccount1-secondary/q", router)
    assert secondary.account == "devstoreaccount1"


def test_a_host_naming_the_service_wins_over_the_path(router: HostRouter) -> None:
    target = route_path_style("queue", "acct.queue.core.windows.net:10001", "/q/messages", router)
    assert (target.account, target.path, target.path_style) == ("acct", "/q/messages", False)


def test_without_accounts_in_paths_the_whole_path_is_the_resource(router: HostRouter) -> None:
    target = route_path_style("servicebus", "localhost:5672", "/orders/subscriptions/all", router, False)
    assert (target.account, target.path, target.path_style) == ("localhost", "/orders/subscriptions/all", False)


def test_an_empty_path_has_no_account(router: HostRouter) -> None:
    with pytest.raises(AzureError):
        route_path_style("queue", "127.0.0.1:10001", "/", router)
