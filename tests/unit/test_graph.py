import pytest

from ngp.errors import GraphError
from ngp.graph import UNKNOWN, Format, Graph, Ref, Resource, matches, resolve


def vpc(addr="n.vpc"):
    return Resource(addr, "ec2.vpc", {"cidr": "10.0.0.0/16"})


def subnet(addr, vpc_addr="n.vpc", **extra):
    return Resource(addr, "ec2.subnet", {"vpc_id": Ref(vpc_addr), **extra})


def test_edges_come_from_refs_and_depends_on():
    res = Resource("a", "ec2.subnet", {"x": [{"y": Ref("b")}], "z": Ref("c", "arn")},
                   depends_on=("d",))
    assert res.deps() == {"b", "c", "d"}


def test_order_puts_dependencies_first_and_is_stable():
    graph = Graph.of([subnet("n.s2"), subnet("n.s1"), vpc()])
    assert graph.order() == ["n.vpc", "n.s1", "n.s2"]


def test_unknown_reference_names_both_addresses():
    with pytest.raises(GraphError) as exc:
        Graph.of([subnet("n.s1", vpc_addr="n.nope")])
    assert exc.value.where == "n.s1"
    assert "n.nope" in exc.value.summary


def test_cycle_is_reported_with_its_path():
    with pytest.raises(GraphError) as exc:
        Graph.of([Resource("a", "ec2.vpc", {"x": Ref("b")}),
                  Resource("b", "ec2.vpc", {"x": Ref("a")})])
    assert "cycle" in exc.value.summary
    assert "a" in exc.value.summary and "b" in exc.value.summary


def test_duplicate_address_is_refused():
    with pytest.raises(GraphError, match="defined twice"):
        Graph.of([vpc(), vpc()])


@pytest.mark.parametrize(("address", "target", "hit"), [
    ("network.vpc", "network.vpc", True),
    ("network.vpc", "network", True),
    ("network.subnet.public[a]", "network.subnet", True),
    ("network.subnet.public[a]", "network.subnet.public", True),
    ("network.subnet.public[a]", "network.subnet.public[b]", False),
    ("network.vpcx", "network.vpc", False),
])
def test_target_matching(address, target, hit):
    assert matches(address, target) is hit


def test_format_makes_edges_and_resolves_once_known():
    res = Resource("a", "ec2.vpc", {"url": Format("https://{host}:{port}/", host=Ref("b", "ip"),
                                                  port=943)})
    assert res.deps() == {"b"}
    assert resolve(res.spec, lambda ref: "192.0.2.1")["url"] == "https://192.0.2.1:943/"
    assert resolve(res.spec, lambda ref: UNKNOWN)["url"] is UNKNOWN
