"""Path notation of the public contract.

`path` is dotted names with `[]` for array items and no leading `$`
(`data[].results[].amount.value`); `pointer` is an RFC 6901 JSON pointer of one
concrete occurrence (`/data/0/results/3/amount/value`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ROOT = ""


def child(path: str, key: str) -> str:
    """Path of object member `key` under `path`."""
    return f"{path}.{key}" if path else key


def item(path: str) -> str:
    """Path of the items of the array at `path`."""
    return f"{path}[]"


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer for a sequence of object keys and array indices."""
    return "".join(f"/{escape_token(str(part))}" for part in parts)


def pointer_parts(ptr: str) -> list[str]:
    if ptr == "":
        return []
    if not ptr.startswith("/"):
        raise ValueError(f"not a JSON pointer: {ptr!r}")
    return [unescape_token(token) for token in ptr[1:].split("/")]


def path_of(parts: Sequence[str | int]) -> str:
    """Contract path for concrete pointer parts: indices become `[]`."""
    path = ROOT
    for part in parts:
        path = item(path) if isinstance(part, int) else child(path, part)
    return path


def path_of_pointer(ptr: str, document: object) -> str:
    """Contract path of a pointer, using the document to tell indices from keys."""
    path = ROOT
    node = document
    for token in pointer_parts(ptr):
        if isinstance(node, list):
            path = item(path)
            node = node[int(token)] if token.isdigit() and int(token) < len(node) else None
        else:
            path = child(path, token)
            node = node.get(token) if isinstance(node, dict) else None
    return path


def parent(path: str) -> str:
    """Parent path: `data[].results[].amount.value` -> `data[].results[].amount`."""
    if path.endswith("[]"):
        return path[:-2]
    head, _, _ = path.rpartition(".")
    return head


def leaf_name(path: str) -> str:
    return path.rstrip("[]").rpartition(".")[2]
