"""Run the Python examples of the documentation, so that they cannot silently rot.

Each ```python block runs in a fresh interpreter. A fragment that uses ``await`` at top level
(it belongs inside the reader's own coroutine) is compiled, not run.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def check(path: Path) -> list[str]:
    failures = []
    for number, match in enumerate(BLOCK.finditer(path.read_text()), start=1):
        code = match.group(1)
        where = f"{path}, python block {number}"
        try:
            compile(code, where, "exec")
        except SyntaxError:
            try:
                compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            except SyntaxError as exc:
                failures.append(f"{where}: {exc}")
            else:
                print(f"compiled {where} (top-level await)")
            continue
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        if result.returncode:
            failures.append(f"{where} failed:\n{result.stderr}")
        else:
            print(f"ran {where}")
    return failures


def main(paths: list[str]) -> int:
    failures = [failure for path in paths for failure in check(Path(path))]
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
