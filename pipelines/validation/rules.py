"""Declarative validation rules: CEL conditions over final records, kept in YAML files.

The sampler enforces the taxonomy's constraints while it draws attributes and the critic judges
the prose; both live inside the pipeline they check. These rules are the independent second look
at the records exactly as they are written (`rules/persona.yaml`, `rules/dialogue.yaml`): a
reviewer can read them, a new rule needs no code, and the same file checks a finished dataset
(`python -m pipelines.validate`) and records inside the Beam pipeline.

Conditions are CEL (Common Expression Language, https://cel.dev), run by the Rust interpreter of
the `common-expression-language` package. CEL cannot loop forever, touch files or reach Python
objects, and nothing here ever calls Python's eval. Every condition is compiled when its file is
loaded, and the functions and variables it names are checked then, so that a typo or an attempt
at something unsafe fails before any record is read, as an InputError naming the file and rule.

A rule that cannot be evaluated on a record (a missing field, a null where a value is needed, a
non-boolean result) gives the outcome "error" with the reason: it is never swallowed as a pass and
never raised into the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cel
import yaml
from cel.stdlib import EXTENSIONS

from pipelines.errors import InputError
from pipelines.schemas import SCHEMA_DIR, load_schema, schema_errors

SEVERITIES = ("error", "warning")
SCOPES = ("persona", "dialogue")
PASSED, FAILED, ERROR = "passed", "failed", "error"

# -- functions visible to conditions -------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list", dict: "map"}.get(
        type(value), type(value).__name__
    )


def _need_str(*values: Any) -> None:
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"expects a string, got {_type_name(value)}")


def contains_text(text: Any, needle: Any) -> bool:
    """Case-insensitive (Unicode case folding) containment: containsText(narrative, 'Łukasz')."""
    _need_str(text, needle)
    return needle.casefold() in text.casefold()


def word_count(text: Any) -> int:
    """Number of whitespace-separated words."""
    _need_str(text)
    return len(text.split())


def first_name(name: Any) -> str:
    """First word of a full name ('' for a blank name)."""
    _need_str(name)
    words = name.split()
    return words[0] if words else ""


def indices(items: Any) -> list[int]:
    """[0, 1, ..., size(items) - 1], for conditions that compare neighbours in a list."""
    if not isinstance(items, (list, str)):
        raise TypeError(f"expects a list or string, got {_type_name(items)}")
    return list(range(len(items)))


HELPERS: dict[str, Callable[..., Any]] = {
    "containsText": contains_text,
    "wordCount": word_count,
    "firstName": first_name,
    "indices": indices,
}
# Pure-Python extensions shipped with the package (cel-go's string and list libraries). The
# namespaced libraries (math.*, sets.*, base64.*) are left out: their names do not survive the
# static checks below, and no rule needs them.
_EXTENSION_LIBRARIES = ("core", "strings", "lists")
FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: fn for lib in _EXTENSION_LIBRARIES for name, fn in EXTENSIONS[lib].items() if "." not in name},
    **HELPERS,
}
# Functions implemented natively by the interpreter.
_NATIVE = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "type",
        "dyn",
        "timestamp",
        "duration",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
KNOWN_FUNCTIONS = _NATIVE | frozenset(FUNCTIONS)
# Operators are named by symbols (_+_, _[_], _?_:_, !_, -_, @in); functions by identifiers.
_FUNCTION_NAME = re.compile(r"^[A-Za-z_]\w*$")


class _DropHelperFailures(logging.Filter):
    """The interpreter logs a warning whenever a Python function raises; that failure already
    becomes the rule's "error" outcome, so the log line would only repeat it once per record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Python function '")


logging.getLogger("cel").addFilter(_DropHelperFailures())

# -- static checks on expressions ----------------------------------------------------------------

# CEL string literals (raw, bytes, triple-quoted), removed before looking at identifiers.
_STRING = re.compile(
    r"""(?<!\w)(?:[bB]?[rR]|[rR][bB])(?:'''.*?'''|\"\"\".*?\"\"\"|'[^'\n]*'|"[^"\n]*")"""
    r"""|(?<!\w)[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*")""",
    re.DOTALL,
)
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_PATH = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)+")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _without_strings(expression: str) -> str:
    return _STRING.sub("''", expression)


def _scope_roots(scope: str) -> frozenset[str] | None:
    """Top-level fields of a record of this scope, from its JSON Schema when there is one."""
    if not (SCHEMA_DIR / f"{scope}.schema.json").is_file():
        return None
    return frozenset(load_schema(scope).get("properties", {}))


def compile_expression(expression: str, roots: frozenset[str] | None = None) -> cel.Program:
    """Compile one CEL expression, or raise ValueError saying what is wrong with it.

    Rejected: syntax errors, identifiers with a double underscore (no route to interpreter or
    Python internals), functions outside KNOWN_FUNCTIONS and, when `roots` is given, variables
    that are neither a record field nor bound by a comprehension macro."""
    code = _without_strings(expression)
    if "__" in code:
        raise ValueError("identifiers containing '__' are not allowed")
    try:
        program = cel.compile(expression)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # Rust panics surface as BaseException subclasses
        detail = str(exc).split(": ", 1)[-1] if str(exc).startswith("Failed to parse") else str(exc)
        raise ValueError(f"not a valid CEL expression: {detail}") from None
    refs = program.references()
    unknown = sorted(f for f in refs["functions"] if _FUNCTION_NAME.match(f) and f not in KNOWN_FUNCTIONS)
    if unknown:
        known = ", ".join(sorted(KNOWN_FUNCTIONS))
        raise ValueError(f"unknown function(s) {unknown}; available besides operators and macros: {known}")
    if roots is not None:
        bound = set(_BOUND.findall(code))
        strays = sorted(set(refs["variables"]) - bound - roots)
        if strays:
            raise ValueError(f"unknown variable(s) {strays}; a record has {sorted(roots)}")
    return program


# -- rules and outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    severity: str
    scope: str
    condition: str
    message: str | None
    file: str
    location: str  # "$.rules[3] (id=retired_from_55)"


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    severity: str
    status: str  # passed | failed | error
    message: str

    @property
    def blocking(self) -> bool:
        """Whether this outcome makes the record invalid: an error-level rule that did not pass."""
        return self.severity == "error" and self.status != PASSED


@dataclass(frozen=True)
class _Compiled:
    condition: cel.Program
    placeholders: tuple[tuple[str, cel.Program], ...]


def _compile_rule(rule: Rule, roots: frozenset[str] | None) -> _Compiled:
    try:
        condition = compile_expression(rule.condition, roots)
    except ValueError as exc:
        raise InputError(rule.file, _at(rule.location, "condition"), str(exc)) from None
    placeholders = []
    for expr in _PLACEHOLDER.findall(rule.message or ""):
        try:
            placeholders.append((expr, compile_expression(expr, roots)))
        except ValueError as exc:
            raise InputError(rule.file, _at(rule.location, "message"), f"placeholder {{{expr}}}: {exc}") from None
    return _Compiled(condition, tuple(placeholders))


def _at(location: str, field: str) -> str:
    path, _, rest = location.partition(" ")
    return f"{path}.{field} {rest}".rstrip()


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


_NATIVE_FAILURE = re.compile(
    r"Function '(\w+)' error: (?:Python function call failed: )?(?:\w+: )?(.*?)\.?(?: Check .*)?$"
)
_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")


def _describe(exc: BaseException) -> str:
    """The interpreter's exception as one short sentence."""
    text = str(exc).strip()
    if isinstance(exc, KeyError):
        return f"no such field {exc.args[0]!r}" if exc.args else "no such field"
    if isinstance(exc, IndexError):
        return text or "list index out of range"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    first = text.splitlines()[0] if text else type(exc).__name__
    if match := _UNDEFINED.search(first):
        name = match.group(1)
        if name in KNOWN_FUNCTIONS:
            return f"no overload of {name}() accepts these argument types"
        return f"undefined variable {name!r} (the record has no such field)"
    if match := _NATIVE_FAILURE.search(" ".join(text.split())):
        return f"{match.group(1)}(): {match.group(2)}"
    if first.startswith(("No such overload", "Unsupported operation")):
        return first.split(". CEL does not coerce")[0].split(" CEL does not coerce")[0].rstrip(".")
    return f"{type(exc).__name__}: {first}"


def _null_paths(expression: str, record: dict[str, Any]) -> list[str]:
    """Dotted paths named in the expression that are null or missing in the record: the usual
    reason an evaluation fails, said in terms of the data."""
    notes: list[str] = []
    code = _without_strings(expression)
    bound = set(_BOUND.findall(code))
    for raw in dict.fromkeys(_PATH.findall(code)):
        parts = [p.strip() for p in raw.split(".")]
        if parts[0] in bound:
            continue
        node: Any = record
        for depth, part in enumerate(parts):
            prefix = ".".join(parts[:depth])
            if node is None:
                notes.append(f"{prefix} is null")
                break
            if not isinstance(node, dict):
                break
            if part not in node:
                notes.append(f"{prefix} has no field {part!r}" if prefix else f"the record has no field {part!r}")
                break
            node = node[part]
        else:
            if node is None:
                notes.append(f"{'.'.join(parts)} is null")
    return list(dict.fromkeys(notes))


class RuleSet:
    """Compiled rules from one or more files. Picklable: only the sources travel, and the
    programs are compiled again on first use after unpickling (compiled programs do not pickle)."""

    def __init__(self, rules: Sequence[Rule], content_hash: str, files: Sequence[str] = ()):
        self._rules = tuple(rules)
        self.content_hash = content_hash
        self.files = tuple(files)
        self._compiled: dict[str, _Compiled] | None = None

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def for_scope(self, scope: str) -> list[Rule]:
        return [r for r in self._rules if r.scope == scope]

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self._rules)} rules, sha256={self.content_hash[:12]})"

    def __getstate__(self) -> dict[str, Any]:
        return {"rules": self._rules, "content_hash": self.content_hash, "files": self.files}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rules"], state["content_hash"], state["files"])

    def compile(self) -> None:
        """Compile every rule now (done by load_rules; later calls are free)."""
        if self._compiled is None:
            roots = {scope: _scope_roots(scope) for scope in SCOPES}
            self._compiled = {r.id: _compile_rule(r, roots[r.scope]) for r in self._rules}

    def evaluate(self, record: dict[str, Any], scope: str) -> list[RuleOutcome]:
        """One outcome per rule of this scope, in file order. Top-level keys starting with `_`
        (private working fields inside the pipeline) are not visible to conditions."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {SCOPES}")
        rules = self.for_scope(scope)
        if not rules:
            return []
        self.compile()
        if not isinstance(record, dict):
            message = f"the record cannot be read: a record must be a map, got {_type_name(record)}"
            return [RuleOutcome(r.id, r.severity, ERROR, message) for r in rules]
        public = {k: v for k, v in record.items() if not str(k).startswith("_")}
        try:
            context = cel.Context(variables=public, functions=FUNCTIONS)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # Rust panics surface as BaseException subclasses
            message = f"the record cannot be read: {_describe(exc)}"
            return [RuleOutcome(r.id, r.severity, ERROR, message) for r in rules]
        return [self._evaluate_rule(rule, context, public) for rule in rules]

    def _evaluate_rule(self, rule: Rule, context: cel.Context, record: dict[str, Any]) -> RuleOutcome:
        assert self._compiled is not None
        compiled = self._compiled[rule.id]
        try:
            value = compiled.condition.execute(context)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # Rust panics surface as BaseException subclasses
            notes = _null_paths(rule.condition, record)
            why = _describe(exc) + (f" ({'; '.join(notes)})" if notes else "")
            return RuleOutcome(rule.id, rule.severity, ERROR, f"cannot evaluate: {why}")
        if not isinstance(value, bool):
            shown = _render(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return RuleOutcome(rule.id, rule.severity, ERROR, f"condition gave {_type_name(value)} {shown}, not a bool")
        if value:
            return RuleOutcome(rule.id, rule.severity, PASSED, "")
        return RuleOutcome(rule.id, rule.severity, FAILED, self._failure_message(rule, compiled, context))

    @staticmethod
    def _failure_message(rule: Rule, compiled: _Compiled, context: cel.Context) -> str:
        if not rule.message:
            return rule.description
        values: dict[str, str] = {}
        for expr, program in compiled.placeholders:
            try:
                values[expr] = _render(program.execute(context))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # Rust panics surface as BaseException subclasses
                values[expr] = f"<{_describe(exc)}>"
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), rule.message)


def blocking(outcomes: Iterable[RuleOutcome]) -> list[RuleOutcome]:
    """The outcomes that make a record invalid (error-level rules that failed or could not run)."""
    return [o for o in outcomes if o.blocking]


# -- loading ---------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except that a key repeated in one mapping is an error rather than silently
    replacing the first (a second `condition:` would otherwise hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(path: Path) -> tuple[bytes, Any]:
    if not path.is_file():
        raise InputError(str(path), "<file>", "file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"byte {exc.start}", "not UTF-8 text") from None
    try:
        return data, yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        raise InputError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


_RULE_INDEX = re.compile(r"^\$\.rules\[(\d+)\]")


def _check_schema(doc: Any, file: str) -> None:
    errors = schema_errors("rules", doc)
    if not errors:
        return
    path, keyword, message = errors[0]
    match = _RULE_INDEX.match(path)
    if match and isinstance(doc, dict):
        spec = doc["rules"][int(match.group(1))]
        if isinstance(spec, dict) and isinstance(spec.get("id"), str):
            path = f"{path} (id={spec['id']})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise InputError(file, path, f"{message} [schema keyword: {keyword}]{more}")


def load_rules(paths: Sequence[str | Path]) -> RuleSet:
    """Read, validate and compile rules files (YAML, schemas/rules.schema.json). Rule ids are
    unique across all the files; anything wrong raises InputError naming the file and rule."""
    if not paths:
        raise InputError("<rules>", "<files>", "at least one rules file is required")
    rules: list[Rule] = []
    defined: dict[str, str] = {}
    digest = hashlib.sha256()
    for raw_path in paths:
        path = Path(raw_path)
        data, doc = _read(path)
        digest.update(len(data).to_bytes(8, "big") + data)
        _check_schema(doc, str(path))
        for i, spec in enumerate(doc["rules"]):
            location = f"$.rules[{i}] (id={spec['id']})"
            if spec["id"] in defined:
                raise InputError(
                    str(path), location, f"duplicate rule id {spec['id']!r}, first defined at {defined[spec['id']]}"
                )
            defined[spec["id"]] = f"{path}: $.rules[{i}]"
            rules.append(
                Rule(
                    id=spec["id"],
                    description=" ".join(spec["description"].split()),
                    severity=spec["severity"],
                    scope=spec["scope"],
                    condition=spec["condition"].strip(),
                    message=spec.get("message"),
                    file=str(path),
                    location=location,
                )
            )
    ruleset = RuleSet(rules, digest.hexdigest(), [str(p) for p in paths])
    ruleset.compile()
    return ruleset
