"""Preset files: where the shipped ones are, how a name or a path is resolved, and how a file is
read safely: a YAML loader that reads YAML 1.2 booleans and exponent floats, refuses duplicate keys,
and bounds depth and size (a few hundred bytes of nested aliases would otherwise expand to billions
of values), one line per validation error naming the file, the key and what is allowed, and a
--param KEY=VALUE read as a YAML scalar, as presets write values. The schema of a preset is
`preset_schema.Preset`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import HotbenchError, short, unknown_name
from ..files import input_file

# Shipped inside the package (package data), so a wheel installed anywhere has them: the code must
# not look outside its own directory, where only an editable install has a checkout around it.
PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads `on`, `off`, `yes`, `no` as booleans,
    which would turn the attack key `on:` into True and `targeted: no` into False."""


# A preset is a few levels deep; PyYAML composes nested nodes recursively, and a few hundred levels
# reach Python's recursion limit (a RecursionError traceback on 2,990 lines of nesting).
MAX_DEPTH = 50


class TooDeep(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        super().__init__(f"it nests deeper than {MAX_DEPTH} levels (at line {line + 1})")


def _compose_node(self: _Loader, parent: Any, index: Any) -> Any:
    self.depth = getattr(self, "depth", 0) + 1
    try:
        if self.depth > MAX_DEPTH:
            raise TooDeep(self.peek_event().start_mark.line)
        return yaml.SafeLoader.compose_node(self, parent, index)
    finally:
        self.depth -= 1


def _construct_mapping(self: _Loader, node: yaml.Node, deep: bool = False) -> Any:
    """A key given twice is an error, not the last value silently winning (a merge key `<<` may
    still be overridden: that is what it is for)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = self.construct_object(key_node)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first[key] + 1})",
                    key_node.start_mark,
                )
            first[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(self, node, deep)


_Loader.compose_node = _compose_node  # type: ignore[method-assign]


_Loader.construct_mapping = _construct_mapping  # type: ignore[method-assign]


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# YAML 1.2 floats with an exponent and no dot: `1e-4` (DeepFool's push, written as its help says
# it) is a number, where YAML 1.1 reads a string and the parameter check says "must be a number".
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
)


# A preset is a few hundred values. YAML aliases share one node, so a 560-byte file of nested
# aliases (a "billion laughs") loads in microseconds but expands to billions of values once anything
# walks it (validation, hashing, an error message that prints it). Both the text and the expanded
# document are bounded, and values quoted in errors are cut short.
MAX_PRESET_BYTES = 1 << 20


MAX_VALUES = 100_000


class TooLarge(ValueError):
    """A YAML document that expands past MAX_VALUES values."""


def _check_size(doc: Any) -> Any:
    """Count the values of `doc` as if its aliases were expanded; stop at MAX_VALUES (so the cost
    is bounded whatever the document)."""
    todo, seen = [doc], 0
    while todo:
        node = todo.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise TooLarge(f"it expands to more than {MAX_VALUES} values (nested YAML aliases?)")
        if isinstance(node, dict):
            todo.extend(node.keys())
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return doc


def read_yaml(text: str) -> Any:
    return _check_size(yaml.load(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass


def parse_param(text: str) -> tuple[str, bool | int | float | str]:
    """`c=1.0` -> ("c", 1.0); `random_start=false` -> ("random_start", False). YAML scalars, as in
    presets."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise HotbenchError(f"--param '{text}' is not KEY=VALUE", "write e.g. --param c=1.0")
    try:
        value = read_yaml(raw) if raw.strip() else None
    except (yaml.YAMLError, TooLarge):
        value = raw
    if not isinstance(value, (bool, int, float, str)):
        raise HotbenchError(
            f"--param '{text}' has no value a parameter can take",
            "write a number, true/false or a word",
        )
    return key.strip(), value


def available() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []


def listing() -> list[dict[str, str]]:
    """The shipped presets for `hotbench presets`: name, one-line description and the file to copy
    for a sweep of one's own. Read as YAML only (not validated): listing must not fail on one bad
    file, and `hotbench run NAME` validates it anyway."""
    out = []
    for name in available():
        path = PRESET_DIR / f"{name}.yaml"
        try:
            doc = read_yaml(path.read_text())
            description = str(doc.get("description", "")) if isinstance(doc, dict) else ""
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            description = "(unreadable)"
        out.append({"name": name, "description": description, "path": str(path)})
    return out


def resolve(name_or_path: str | Path) -> Path:
    """A preset name (`quick`) or a path to a YAML file (anything with a slash or a .yaml/.yml
    suffix)."""
    text = str(name_or_path)
    path = Path(text)
    if "/" in text or path.suffix in (".yaml", ".yml") or os.path.lexists(text):
        fix = f"pass an existing file or a name: {', '.join(available())}"
        return input_file(path, "preset file", fix)  # a FIFO or a device would hang the read
    candidate = PRESET_DIR / f"{text}.yaml"
    if candidate.is_file():
        return candidate
    raise unknown_name("preset", text, available())


# pydantic's union-branch tags in an error's location (`train` is one section or a list of them)
_UNION_TAGS = (
    "function-",
    "literal[",
    "float",
    "int",
    "str",
    "bool",
    "list[",
    "dict[",
    "none",
    "nullable",
)


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and part.startswith(_UNION_TAGS)


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_tag(part):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key was found: walk the schema along the error's
    location."""
    sub: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or _is_tag(part):
            continue
        field = (
            sub.model_fields.get(str(part))
            if isinstance(sub, type) and issubclass(sub, BaseModel)
            else None
        )
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        sub = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if sub is None:
            return []
    return list(sub.model_fields) if isinstance(sub, type) and issubclass(sub, BaseModel) else []


def preset_error(path: Path, exc: ValidationError, schema: type[BaseModel]) -> HotbenchError:
    errors = exc.errors()
    # where a union failed (`train`: one section or a list), the branch that got furthest names
    # the real problem ("unknown key train[2].epoch", not "train is not a list")
    err = max(
        (e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]), key=lambda e: len(e["loc"])
    )
    key = key_path(err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(allowed_keys(schema, err["loc"]))
        return HotbenchError(
            f"preset '{path}': unknown key '{key}'; allowed keys: {allowed}",
            "fix or remove that key",
        )
    if err["type"] == "missing":
        return HotbenchError(
            f"preset '{path}': missing required key '{key}'", "add it (see `hotbench presets`)"
        )
    msg = err["msg"].removeprefix("Value error, ")
    return HotbenchError(
        f"preset '{path}': key '{key}': {msg} (got {short(err.get('input'))})",
        "fix that value",
    )
