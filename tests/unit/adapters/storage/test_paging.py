from adapters.storage.paging import page_names

NAMES = ["alpha", "beta1", "beta2", "beta3", "gamma"]


def test_pages_by_prefix_with_a_next_marker() -> None:
    assert page_names(NAMES, "beta", "", 2) == (["beta1", "beta2"], "beta3")
    assert page_names(NAMES, "beta", "beta3", 2) == (["beta3"], "")


def test_marker_and_no_prefix() -> None:
    assert page_names(NAMES, "", "beta2", 10) == (["beta2", "beta3", "gamma"], "")
    assert page_names(NAMES, "zeta", "", 10) == ([], "")
