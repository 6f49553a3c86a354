from controlplane.gateway.http import parse_query


def test_decodes_names_and_values_and_keeps_blanks() -> None:
    query = parse_query(b"comp=list&prefix=a%2Fb&marker=&include=metadata&sig=ab%2Bc%3D")
    assert query == {"comp": "list", "prefix": "a/b", "marker": "", "include": "metadata", "sig": "ab+c="}


def test_first_value_wins_and_plus_is_a_space() -> None:
    assert parse_query(b"a=1&a=2&b=x+y&&c") == {"a": "1", "b": "x y", "c": ""}


def test_empty_query() -> None:
    assert parse_query(b"") == {}
