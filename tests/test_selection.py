"""--all-hosts / --group / --host selection over a loaded inventory."""

from __future__ import annotations

import pytest

from herd.errors import UsageError
from herd.inventory import Host, Inventory, select_hosts

INV = Inventory(
    path="inv.yaml",
    hosts=tuple(Host(name=n) for n in ("web01", "web02", "db01", "db02", "cache-a")),
    groups={"web": ("web01", "web02"), "db": ("db01", "db02"),
            "edge": ("web01", "cache-a"), "empty": ()},
)


def names(**kwargs) -> list[str]:
    args = dict(all_hosts=False, groups=(), patterns=(), default_all=False)
    args.update(kwargs)
    return [h.name for h in select_hosts(INV, **args)]


def usage_error(inventory: Inventory = INV, **kwargs) -> str:
    args = dict(all_hosts=False, groups=(), patterns=(), default_all=False)
    args.update(kwargs)
    with pytest.raises(UsageError) as info:
        select_hosts(inventory, **args)
    return str(info.value)


def test_no_selector_means_all_for_read_only_commands() -> None:
    assert names(default_all=True) == ["web01", "web02", "db01", "db02", "cache-a"]


def test_no_selector_is_refused_for_commands_that_change_things() -> None:
    assert usage_error() == ("this command changes things: choose hosts with --all-hosts, "
                             "--group/-g NAME or --host/-H PATTERN")


def test_all_hosts() -> None:
    assert names(all_hosts=True) == ["web01", "web02", "db01", "db02", "cache-a"]


def test_selectors_union_in_inventory_order_without_duplicates() -> None:
    assert names(groups=["edge", "db"], patterns=["web0[12]", "cache-*"]) == \
        ["web01", "web02", "db01", "db02", "cache-a"]
    assert names(patterns=["db02", "web01", "db02"]) == ["web01", "db02"]
    assert names(groups=["edge"]) == ["web01", "cache-a"]


def test_selected_objects_are_the_inventory_hosts() -> None:
    chosen = select_hosts(INV, all_hosts=False, groups=["db"], patterns=[], default_all=False)
    assert chosen == [INV.host("db01"), INV.host("db02")]


def test_group_with_at_prefix_is_accepted() -> None:
    assert names(groups=["@web"]) == ["web01", "web02"]


def test_patterns_are_case_sensitive_globs() -> None:
    assert names(patterns=["*0?"]) == ["web01", "web02", "db01", "db02"]
    assert usage_error(patterns=["WEB*"]) == "no host matches 'WEB*'"


def test_unknown_group() -> None:
    assert usage_error(groups=["wbe"]) == "unknown group 'wbe' (did you mean 'web'?)"
    assert usage_error(groups=["zzz"]) == "unknown group 'zzz'; groups: web, db, edge, empty"
    assert usage_error(groups=["cache-a"]) == (
        "unknown group 'cache-a' ('cache-a' is a host: use --host/-H cache-a)")
    bare = Inventory(path="i.yaml", hosts=(Host(name="a"),))
    assert usage_error(bare, groups=["web"]) == (
        "unknown group 'web'; the inventory defines no groups")


def test_empty_group_is_an_error() -> None:
    assert usage_error(groups=["empty"]) == "group 'empty' has no hosts"


def test_pattern_matching_nothing() -> None:
    assert usage_error(patterns=["web1"]) == "no host matches 'web1' (did you mean 'web01'?)"
    assert usage_error(patterns=["app*"]) == "no host matches 'app*'"
    assert usage_error(patterns=["db"]) == "no host matches 'db' ('db' is a group: use --group/-g db)"


def test_one_bad_selector_fails_the_whole_selection() -> None:
    assert usage_error(all_hosts=True, groups=["nope"]) == "unknown group 'nope'; groups: web, db, edge, empty"
