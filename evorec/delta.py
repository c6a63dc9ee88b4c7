"""The delta engine: agents change Φ only through RFC 6902 JSON Patch deltas.

Two layers:

* a generic JSON Patch layer (:func:`apply_patch`) over plain JSON values, which passes the
  public RFC 6902 conformance suite;
* the Φ layer (:func:`apply_delta`): applies a patch to Φ's JSON form and validates the whole
  result as Φ — all or nothing.

Both raise only :class:`~evorec.errors.InvalidDelta` (naming the operation, the path and the
reason) and never mutate their inputs. :func:`diff` computes a small patch between two
documents with ``apply_patch(a, diff(a, b)) == b``; :func:`render_delta` shows a patch
compactly for prompts and the journal.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from evorec.errors import ConfigError, InvalidDelta

__all__ = [
    "Patch",
    "apply_delta",
    "apply_patch",
    "apply_validated",
    "diff",
    "json_equal",
    "parse_patch",
    "render_delta",
]

Patch = list[dict[str, Any]]
T = TypeVar("T")

_OPS = ("add", "remove", "replace", "move", "copy", "test")
_MISSING = object()


# ------------------------------------------------------------------------ JSON Pointer


def _parse_pointer(pointer: Any, *, index: int, op: str, member: str = "path") -> list[str]:
    """RFC 6901: '' is the whole document, otherwise '/'-separated, ~1 → '/', ~0 → '~'."""
    if not isinstance(pointer, str):
        raise InvalidDelta(f"'{member}' must be a string", op_index=index, op=op)
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise InvalidDelta(
            f"'{member}' is not a JSON Pointer (must start with '/')",
            op_index=index,
            op=op,
            path=pointer,
        )
    tokens = pointer[1:].split("/")
    out = []
    for token in tokens:
        # '~' must be followed by 0 or 1.
        i = token.find("~")
        while i != -1:
            if i + 1 >= len(token) or token[i + 1] not in "01":
                raise InvalidDelta(
                    f"invalid escape in '{member}' (use ~0 for '~' and ~1 for '/')",
                    op_index=index,
                    op=op,
                    path=pointer,
                )
            i = token.find("~", i + 2)
        out.append(token.replace("~1", "/").replace("~0", "~"))
    return out


def _array_index(token: str, length: int, *, allow_end: bool, ctx: dict[str, Any]) -> int:
    """An array index token: '-' (append, add only) or a decimal with no leading zeros."""
    if token == "-":
        if allow_end:
            return length
        raise InvalidDelta("'-' (end of array) cannot be read or removed", **ctx)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or not token.isascii():
        raise InvalidDelta(f"{token!r} is not a valid array index", **ctx)
    idx = int(token)
    upper = length if allow_end else length - 1
    if idx > upper:
        raise InvalidDelta(f"array index {idx} is out of bounds (length {length})", **ctx)
    return idx


def _resolve(doc: Any, tokens: list[str], ctx: dict[str, Any]) -> Any:
    """The value at ``tokens``; raises if any step is missing."""
    node = doc
    for depth, token in enumerate(tokens):
        if isinstance(node, dict):
            if token not in node:
                missing = "/" + "/".join(tokens[: depth + 1])
                raise InvalidDelta(f"no member at {missing!r}", **ctx)
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), allow_end=False, ctx=ctx)]
        else:
            raise InvalidDelta(f"cannot descend into a {_kind(node)} value", **ctx)
    return node


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (1 == 1.0), booleans are not numbers,
    objects ignore key order, arrays compare element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------- the operations


def _add(doc: Any, tokens: list[str], value: Any, ctx: dict[str, Any]) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], ctx)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(last, len(parent), allow_end=True, ctx=ctx), value)
    else:
        raise InvalidDelta(f"the parent is a {_kind(parent)}, not an object or array", **ctx)
    return doc


def _remove(doc: Any, tokens: list[str], ctx: dict[str, Any]) -> tuple[Any, Any]:
    """Remove and return (new doc, removed value)."""
    if not tokens:
        raise InvalidDelta("cannot remove the whole document", **ctx)
    parent = _resolve(doc, tokens[:-1], ctx)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise InvalidDelta("no member to remove", **ctx)
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_array_index(last, len(parent), allow_end=False, ctx=ctx))
    raise InvalidDelta(f"the parent is a {_kind(parent)}, not an object or array", **ctx)


def _replace(doc: Any, tokens: list[str], value: Any, ctx: dict[str, Any]) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], ctx)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise InvalidDelta("no member to replace (use 'add' to create one)", **ctx)
        parent[last] = value
    elif isinstance(parent, list):
        parent[_array_index(last, len(parent), allow_end=False, ctx=ctx)] = value
    else:
        raise InvalidDelta(f"the parent is a {_kind(parent)}, not an object or array", **ctx)
    return doc


def _apply_one(doc: Any, operation: Any, index: int) -> Any:
    if not isinstance(operation, Mapping):
        raise InvalidDelta("an operation must be a JSON object", op_index=index)
    op = operation.get("op", _MISSING)
    if op is _MISSING:
        raise InvalidDelta("missing member 'op'", op_index=index)
    if op not in _OPS:
        raise InvalidDelta(f"unknown op {op!r} (expected one of {', '.join(_OPS)})", op_index=index)
    if "path" not in operation:
        raise InvalidDelta("missing member 'path'", op_index=index, op=op)
    path = operation["path"]
    tokens = _parse_pointer(path, index=index, op=op)
    ctx = {"op_index": index, "op": op, "path": path}

    if op in ("add", "replace", "test"):
        if "value" not in operation:
            raise InvalidDelta("missing member 'value'", **ctx)
        value = copy.deepcopy(operation["value"])
        _check_json(value, ctx)
    if op in ("move", "copy"):
        if "from" not in operation:
            raise InvalidDelta("missing member 'from'", **ctx)
        from_tokens = _parse_pointer(operation["from"], index=index, op=op, member="from")

    if op == "add":
        return _add(doc, tokens, value, ctx)
    if op == "remove":
        return _remove(doc, tokens, ctx)[0]
    if op == "replace":
        return _replace(doc, tokens, value, ctx)
    if op == "test":
        actual = _resolve(doc, tokens, ctx)
        if not json_equal(actual, value):
            raise InvalidDelta(
                f"test failed: found {_short(actual)}, expected {_short(value)}", **ctx
            )
        return doc
    if op == "copy":
        value = copy.deepcopy(_resolve(doc, from_tokens, ctx))
        return _add(doc, tokens, value, ctx)
    # move
    if from_tokens == tokens:
        _resolve(doc, from_tokens, ctx)  # must exist
        return doc
    if tokens[: len(from_tokens)] == from_tokens:
        raise InvalidDelta("cannot move a value into one of its own children", **ctx)
    doc, value = _remove(doc, from_tokens, ctx)
    return _add(doc, tokens, value, ctx)


def _check_json(value: Any, ctx: dict[str, Any]) -> None:
    """Refuse values JSON cannot hold (NaN, inf, non-string keys, arbitrary objects)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidDelta(f"value is not valid JSON: {exc}", **ctx) from None


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_patch(patch: Any) -> Patch:
    """Accept a patch as a list of operations or JSON text; check its outer shape only."""
    if isinstance(patch, str | bytes):
        try:
            patch = json.loads(patch)
        except json.JSONDecodeError as exc:
            raise InvalidDelta(f"the patch is not valid JSON: {exc}") from None
    if isinstance(patch, Mapping):
        # A single operation is a common model slip; say so precisely.
        raise InvalidDelta("a patch is a JSON array of operations, got a single object")
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise InvalidDelta(f"a patch is a JSON array of operations, got {_kind(patch)}")
    return list(patch)


def apply_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 6902 patch to a JSON value; all or nothing, inputs never mutated.

    Raises :class:`InvalidDelta` naming the first failing operation.
    """
    operations = parse_patch(patch)
    result = copy.deepcopy(doc)
    for index, operation in enumerate(operations):
        result = _apply_one(result, operation, index)
    return result


# ------------------------------------------------------------------------- the Φ layer


def apply_validated(base_json: Any, patch: Any, load: Callable[[Any], T], what: str) -> T:
    """Apply ``patch`` to a configuration's JSON form and validate the whole result with
    ``load`` (which raises :class:`ConfigError`); all or nothing.

    Any failing operation, or a result ``load`` refuses, raises :class:`InvalidDelta` naming
    ``what`` and the JSON Pointer of the first problem; the base is never mutated.
    """
    result = apply_patch(base_json, patch)
    try:
        return load(result)
    except ConfigError as exc:
        first = exc.errors[0]["path"] if exc.errors else None
        raise InvalidDelta(
            f"the patched configuration is not a valid {what} — {exc}",
            path=first,
            errors=exc.errors,
        ) from None


def apply_delta(base: Any, patch: Any) -> Any:
    """Apply a delta to Φ and validate the whole result; returns a new ``Phi``.

    ``base`` is a ``Phi`` (or its JSON form). Any failing operation, or a result that does
    not validate as Φ, raises :class:`InvalidDelta`; the base is never mutated.
    """
    from evorec.ranker.schema import Phi, load_phi

    base_json = base.to_json() if isinstance(base, Phi) else base
    return apply_validated(base_json, patch, load_phi, "Φ")


def diff(a: Any, b: Any, path: str = "") -> Patch:
    """A small patch turning ``a`` into ``b``: ``apply_patch(a, diff(a, b)) == b``.

    Objects are compared member by member; arrays of equal length element by element;
    arrays of different length are replaced whole (short and unambiguous for prompts).
    """
    if json_equal(a, b):
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        ops: Patch = []
        for key in a:
            child = f"{path}/{_escape(key)}"
            if key not in b:
                ops.append({"op": "remove", "path": child})
            else:
                ops.extend(diff(a[key], b[key], child))
        for key in b:
            if key not in a:
                ops.append(
                    {"op": "add", "path": f"{path}/{_escape(key)}", "value": copy.deepcopy(b[key])}
                )
        return ops
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        ops = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            ops.extend(diff(x, y, f"{path}/{i}"))
        return ops
    return [{"op": "replace", "path": path, "value": copy.deepcopy(b)}]


def _escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def render_delta(patch: Any, base: Any | None = None) -> str:
    """One line per operation, compact enough for prompts and journal tables.

    ``~ /optimizer/algorithm: "adagrad" → "rmsprop"`` (with a base), ``+ /path = value``,
    ``- /path``, ``> /from → /to``, ``= /path == value`` (test).
    """
    operations = parse_patch(patch)
    if not operations:
        return "(no change)"
    lines = []
    doc = copy.deepcopy(base) if base is not None else None
    if doc is not None and hasattr(doc, "to_json"):
        doc = doc.to_json()
    for op in operations:
        kind = op.get("op") if isinstance(op, Mapping) else None
        path = op.get("path", "?") if isinstance(op, Mapping) else "?"
        if kind == "replace":
            old = ""
            if doc is not None:
                try:
                    old = (
                        _short(_resolve(doc, _parse_pointer(path, index=0, op="replace"), {}))
                        + " → "
                    )
                except InvalidDelta:
                    old = ""
            lines.append(f"~ {path}: {old}{_short(op.get('value'))}")
        elif kind == "add":
            lines.append(f"+ {path} = {_short(op.get('value'))}")
        elif kind == "remove":
            lines.append(f"- {path}")
        elif kind in ("move", "copy"):
            arrow = ">" if kind == "move" else "&"
            lines.append(f"{arrow} {op.get('from')} → {path}")
        elif kind == "test":
            lines.append(f"= {path} == {_short(op.get('value'))}")
        else:
            lines.append(f"? {_short(op)}")
        if doc is not None:
            try:
                doc = _apply_one(doc, op, 0)
            except InvalidDelta:
                doc = None
    return "\n".join(lines)
