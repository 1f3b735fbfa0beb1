"""Text from users (run labels, attack labels, file names) in a Markdown table or code span.

Why a module: three writers (the report's table, the gate's diff for a CI job summary, `compare`)
put the same user text into GitHub-flavoured Markdown, where a `|` ends a cell, a line break ends
the table and a backtick ends a code span. Each one broke the table in its own way before.
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def cell(text: str) -> str:
    """`text` as one table cell: `|` escaped, line breaks as a space, backslashes kept literal."""
    return _BREAKS.sub(" ", text.replace("\\", "\\\\").replace("|", "\\|"))


def code(text: str) -> str:
    """`text` as an inline code span, on one line, whatever backticks it holds (a fence one
    longer than its longest run of backticks, padded where it starts or ends with one)."""
    flat = _BREAKS.sub(" ", text)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
