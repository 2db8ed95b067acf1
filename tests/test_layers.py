"""The layers hold (issue 8, "Layers that hold"; architecture-review.md §2.1, §6).

Every import in src/memtype is read with ``ast``: module level and inside functions, ``import x``
and ``from x import y``, relative ones too, and ``if TYPE_CHECKING:`` blocks (mypy follows those).
A rule names the modules it governs and what they may (``allow``) or may not (``deny``) import;
adding a rule is one line in RULES. Separately, the imports that run when a module is imported
(module and class level, not functions, not TYPE_CHECKING blocks) must not form a cycle.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "memtype"
STDLIB = "<stdlib>"  # in ``allow``: any standard-library module
OTHER = "<not memtype>"  # in ``allow``: any module outside memtype (stdlib or third party)


@dataclass(frozen=True)
class Rule:
    text: str  # the rule as a sentence, for the failure message
    modules: tuple[str, ...]  # the importing modules it governs (prefixes: "memtype.output" = the package)
    allow: tuple[str, ...] = ()  # if given: only these may be imported
    deny: tuple[str, ...] = ()  # these may not be imported
    exempt: tuple[str, ...] = ()  # importing modules it does not govern


MODEL_DEPS = ("memtype.model", "memtype.kinds", "memtype.errors")
RULES = (
    Rule("output/ imports only memtype.model, kinds, errors and _version (and the stdlib and rich)",
         ("memtype.output",), allow=("memtype.output", *MODEL_DEPS, "memtype._version", STDLIB, "rich")),
    Rule("model/ imports of memtype only model, kinds, errors and parse (it never reads a Root)",
         ("memtype.model",), allow=(*MODEL_DEPS, "memtype.parse", OTHER)),
    Rule("nothing but cli/ (and __main__) imports memtype.cli",
         ("memtype",), deny=("memtype.cli",), exempt=("memtype.cli", "memtype.__main__")),
    Rule("tui/ imports of memtype only tui, model, kinds, errors, output and _version (the command wires a "
         "sampler to it; it never reads a Root)", ("memtype.tui",),
         allow=("memtype.tui", *MODEL_DEPS, "memtype.output", "memtype._version", OTHER)),
    Rule("exporter/ imports of memtype only exporter, model, kinds, errors, output and _version (the command "
         "wires a sampler to it; a scrape reads no Root)", ("memtype.exporter",),
         allow=("memtype.exporter", *MODEL_DEPS, "memtype.output", "memtype._version", OTHER)),
    # The page-level readers are a leaf of collect/: collect.system, collect.pressure and collect.scan_exact
    # use them, so an import of collect.scan (or any other collector) from here, even inside a function,
    # would be the collect <-> pages package cycle of architecture-review.md 2.1 again.
    Rule("collect/exact/ imports of memtype only collect.exact, model, kinds, errors, parse and source",
         ("memtype.collect.exact",),
         allow=("memtype.collect.exact", *MODEL_DEPS, "memtype.parse", "memtype.source", OTHER)),
    Rule("collect/gpu/ imports of memtype only collect.gpu, model, kinds, errors, parse and source (NVML's "
         "module only inside a function: it is optional)", ("memtype.collect.gpu",),
         allow=("memtype.collect.gpu", *MODEL_DEPS, "memtype.parse", "memtype.source", OTHER)),
    Rule("lab/ imports of memtype only lab, collect, source, parse, model, kinds and errors (the command renders)",
         ("memtype.lab",), allow=("memtype.lab", "memtype.collect", "memtype.source", "memtype.parse", *MODEL_DEPS,
                                  STDLIB)),
    Rule("report/ imports of memtype only report, model, kinds, errors, output and _version (and the stdlib): "
         "the command gathers the data", ("memtype.report",),
         allow=("memtype.report", *MODEL_DEPS, "memtype.output", "memtype._version", STDLIB)),
    Rule("store/ imports of memtype only store, model, kinds, errors, parse, source and _version (and the stdlib)",
         ("memtype.store",), allow=("memtype.store", *MODEL_DEPS, "memtype.parse", "memtype.source",
                                    "memtype._version", STDLIB)),
)


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # the importing module
    target: str  # the module imported (a submodule where ``from pkg import sub`` names one)
    source: str  # the statement as written
    at_import_time: bool  # runs when ``module`` is imported (not in a function, not under TYPE_CHECKING)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.module = module_name(path)
        self.package = self.module if path.name == "__init__.py" else self.module.rpartition(".")[0]
        self.found: list[Import] = []
        self._deferred = 0  # inside a function or a TYPE_CHECKING block

    def _add(self, node: ast.stmt, target: str) -> None:
        self.found.append(Import(self.path, node.lineno, self.module, target, ast.unparse(node), not self._deferred))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        targets = [f"{origin}.{a.name}" if origin.split(".")[0] == PACKAGE and is_module(f"{origin}.{a.name}")
                   else origin for a in node.names]
        for target in dict.fromkeys(targets):  # one line per module, however many names come from it
            self._add(node, target)

    def _deferring(self, node: ast.AST) -> None:
        self._deferred += 1
        self.generic_visit(node)
        self._deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _deferring

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self._deferred += 1
        for stmt in node.body:
            self.visit(stmt)
        self._deferred -= 1
        for stmt in node.orelse:
            self.visit(stmt)


def all_imports() -> list[Import]:
    out: list[Import] = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        collector = _Collector(path)
        collector.visit(ast.parse(path.read_text(), str(path)))
        out.extend(collector.found)
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _allowed(target: str, allow: tuple[str, ...]) -> bool:
    top = target.split(".")[0]
    if top != PACKAGE and OTHER in allow:
        return True
    if STDLIB in allow and top in sys.stdlib_module_names:
        return True
    return _under(target, tuple(a for a in allow if a not in (STDLIB, OTHER)))


def broken(rule: Rule, imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        if not _under(imp.module, rule.modules) or _under(imp.module, rule.exempt):
            continue
        if (rule.allow and not _allowed(imp.target, rule.allow)) or _under(imp.target, rule.deny):
            where = imp.file.relative_to(SRC.parent)
            out.append(f"{where}:{imp.line}: `{imp.source}` imports {imp.target}; rule: {rule.text}")
    return out


def test_every_layer_rule_holds() -> None:
    imports = all_imports()
    assert len(imports) > 100, "the collector found too few imports: is SRC right?"
    problems = [line for rule in RULES for line in broken(rule, imports)]
    assert not problems, "layer rules broken:\n" + "\n".join(problems)


def test_no_import_cycle_at_import_time() -> None:
    graph: dict[str, dict[str, Import]] = {}
    for imp in all_imports():
        if imp.at_import_time and imp.target.split(".")[0] == PACKAGE and imp.target != imp.module:
            graph.setdefault(imp.module, {}).setdefault(imp.target, imp)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the DFS stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    lines = []
    for cycle in cycles:
        steps = [graph[a][b] for a, b in zip(cycle, cycle[1:])]
        lines.append(" -> ".join(cycle) + "\n" + "\n".join(
            f"    {s.file.relative_to(SRC.parent)}:{s.line}: `{s.source}`" for s in steps))
    assert not cycles, "import cycles at import time:\n" + "\n".join(lines)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The collector itself: relative, nested, TYPE_CHECKING and ``from pkg import submodule`` imports."""
    code = ("from . import human\nfrom ..collect import scan\nimport memtype.cli.main\n"
            "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from memtype.source.root import Root\n"
            "def f() -> None:\n    from memtype.model import records\n")
    c = _Collector(SRC / PACKAGE / "output" / "table.py")
    c.visit(ast.parse(code))
    got = {(i.target, i.at_import_time) for i in c.found}
    assert got == {("memtype.output.human", True), ("memtype.collect.scan", True), ("memtype.cli.main", True),
                   ("memtype.source.root", False), ("memtype.model.records", False)}
    found = broken(RULES[0], c.found)
    assert len(found) == 3 and all("rule: output/" in line and "table.py:" in line for line in found)


def _classes(path: Path) -> list[ast.ClassDef]:
    return [n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, ast.ClassDef)]


def test_every_error_class_is_in_errors_py() -> None:
    """One home for the errors memtype raises on purpose (issue 8: two UsageErrors, PressureError elsewhere)."""
    errors_py = SRC / PACKAGE / "errors.py"
    defined = {c.name for c in _classes(errors_py)}
    elsewhere = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        if path == errors_py:
            continue
        for c in _classes(path):
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                     for b in c.bases}
            if bases & defined or c.name in defined:
                elsewhere.append(f"{path.relative_to(SRC.parent)}:{c.lineno}: class {c.name} belongs in errors.py")
    assert not elsewhere, "\n".join(elsewhere)


def test_every_error_class_has_a_one_line_docstring() -> None:
    for c in _classes(SRC / PACKAGE / "errors.py"):
        doc = ast.get_docstring(c)
        assert doc and "\n" not in doc.strip(), f"errors.py:{c.lineno}: {c.name} needs a one-line docstring"


def test_issue8_exact_readers_may_not_import_collect_scan() -> None:
    """The pages <-> collect cycle (architecture-review.md 2.1) cannot come back, not even through an
    import inside a function: collect.exact is a leaf that collect.scan_exact drives."""
    rule = next(r for r in RULES if r.modules == ("memtype.collect.exact",))
    code = "def walk() -> None:\n    from memtype.collect.scan import scan\n"
    c = _Collector(SRC / PACKAGE / "collect" / "exact" / "process.py")
    c.visit(ast.parse(code))
    found = broken(rule, c.found)
    assert len(found) == 1 and "memtype.collect.scan" in found[0]
    assert not [i for i in all_imports() if i.module.startswith("memtype.pages")], "pages/ moved to collect/exact/"
