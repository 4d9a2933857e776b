#!/usr/bin/env python3
"""Checks the module dependency rule of docs/architecture.md by reading #include lines.

Each module may include only itself and the modules listed for it below; only persist/rocksdb may
include RocksDB; only app/ may include TOML; nothing below transport/ may include Asio or Beast.
Exits 1 and names every offending line.
"""
import pathlib
import re
import sys

ALLOWED = {
    "core": set(),
    "mqtt": {"core"},
    "policy": {"core", "mqtt"},
    "auth": {"core", "policy", "persist"},
    "persist": {"core", "mqtt"},
    "broker": {"core", "mqtt", "policy", "auth", "persist"},
    "ota": {"core", "mqtt", "broker", "persist"},
    "transport": {"core", "mqtt", "policy", "auth", "persist", "broker", "ota"},
    "admin": {"core", "auth", "policy", "persist", "ota", "broker"},
    "app": {"core", "mqtt", "policy", "auth", "persist", "broker", "ota", "transport", "admin"},
}
NO_ASIO = {"core", "mqtt", "policy", "auth", "persist", "broker", "ota"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = []
    for module, allowed in ALLOWED.items():
        folder = root / module
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".hpp", ".cpp"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(1)
                where = f"{path.relative_to(root)}:{number}: {header}"
                first = header.split("/")[0]
                if first in ALLOWED and first != module and first not in allowed:
                    problems.append(f"{where}: {module}/ may not include {first}/")
                if module in NO_ASIO and header.startswith(("boost/asio", "boost/beast")):
                    problems.append(f"{where}: {module}/ must not include Asio or Beast")
                if header.startswith("rocksdb/") and not str(path.relative_to(root)).startswith("persist/rocksdb"):
                    problems.append(f"{where}: only persist/rocksdb may include RocksDB")
                if header.startswith("toml++") and module != "app":
                    problems.append(f"{where}: only app/ may read TOML")
    for p in problems:
        print(p)
    print(f"check_deps: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
