"""The resource graph: resources, references between them, validation and walk order."""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ngp.errors import GraphError

N = TypeVar("N")  # a graph's node: an address, or an engine step's (phase, address)


def is_secret_ref(value: Any) -> bool:
    """A value that lives in Secrets Manager and nowhere else: {"secret": <its ARN>} (an
    output, or an app's environment value)."""
    return isinstance(value, dict) and set(value) == {"secret"}


@dataclass(frozen=True)
class Ref:
    """A value taken from another resource's outputs once it exists: Ref("network.vpc", "id")."""

    address: str
    output: str = "id"

    def __str__(self) -> str:
        return f"{self.address}.{self.output}"


@dataclass(frozen=True)
class Format:
    """A string made from a template and values that may be Refs, known once they exist:
    Format("https://{host}/", host=Ref("openvpn.eip", "public_ip"))."""

    template: str
    values: dict[str, Any]

    def __init__(self, template: str, **values: Any) -> None:
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "values", values)

    def __hash__(self) -> int:
        return hash((self.template, tuple(sorted(self.values))))


@dataclass(frozen=True, eq=False)
class Derived:
    """A value computed from data that may hold Refs, once all of them are known:
    Derived(yaml_text, {"bootstrap_url": Format("http://{ip}:8080", ip=Ref(...))}).
    The function must be pure: the same data gives the same value, or every plan changes."""

    function: Callable[[Any], Any]
    data: Any


@dataclass(frozen=True)
class Resource:
    """One desired object: its address, its kind (`ec2.vpc`), and its spec as plain data.

    Spec values may hold Refs (at any depth); those make the graph's edges, plus
    `depends_on` where an order matters but no value flows.
    """

    address: str
    kind: str
    spec: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    module: str = ""

    def deps(self) -> set[str]:
        return {ref.address for ref in refs_in(self.spec)} | set(self.depends_on)


def refs_in(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Format):
        yield from refs_in(value.values)
    elif isinstance(value, Derived):
        yield from refs_in(value.data)
    elif isinstance(value, dict):
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from refs_in(item)


def resolve(value: Any, lookup: Any) -> Any:
    """Replace every Ref in value by lookup(ref); lookup may return UNKNOWN."""
    if isinstance(value, Ref):
        return lookup(value)
    if isinstance(value, Format):
        values = resolve(value.values, lookup)
        return UNKNOWN if has_unknown(values) else value.template.format(**values)
    if isinstance(value, Derived):
        data = resolve(value.data, lookup)
        return UNKNOWN if has_unknown(data) else value.function(data)
    if isinstance(value, dict):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, lookup) for v in value]
    return value


class _Unknown:
    """A value known only after apply (the output of a resource not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN = _Unknown()


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknown(v) for v in value)
    return False


@dataclass
class Graph:
    """Resources by address, with edges from references. Built once, then read."""

    resources: dict[str, Resource] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> Graph:
        graph = cls()
        for res in resources:
            if res.address in graph.resources:
                raise GraphError(f"address {res.address!r} is defined twice", where=res.address)
            graph.resources[res.address] = res
        graph.validate()
        return graph

    def validate(self) -> None:
        for res in self.resources.values():
            for dep in sorted(res.deps()):
                if dep not in self.resources:
                    raise GraphError(
                        f"references unknown address {dep!r}",
                        where=res.address,
                        hint="Check the module that builds it, and that the module it "
                        "references is on.",
                    )
        try:
            tuple(self.sorter().static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise GraphError(f"dependency cycle: {cycle}", hint="Break the cycle.") from None

    def deps(self) -> dict[str, set[str]]:
        return {addr: res.deps() for addr, res in self.resources.items()}

    def sorter(self) -> graphlib.TopologicalSorter[str]:
        return graphlib.TopologicalSorter(self.deps())

    def order(self) -> list[str]:
        """Dependencies first; ties broken by address so the order is stable."""
        return stable_order(self.deps())


def stable_order(deps: dict[str, set[str]]) -> list[str]:
    sorter = graphlib.TopologicalSorter(deps)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def dependents(deps: dict[N, set[N]]) -> dict[N, set[N]]:
    """The reverse edges: for each node, the nodes that depend on it."""
    out: dict[N, set[N]] = {node: set() for node in deps}
    for node, needs in deps.items():
        for need in needs:
            out.setdefault(need, set()).add(node)
    return out


def closure(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    """Every node reachable from start along edges, start included."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(edges.get(node, ()))
    return seen


def matches(address: str, target: str) -> bool:
    """--target matches the address itself, or everything under it (a module, an indexed set)."""
    return (
        address == target
        or address.startswith(target + ".")
        or address.startswith(target + "[")
    )
