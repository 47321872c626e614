#!/usr/bin/env bash
# Type-checks the runplane package with mypy --strict.
#
# setuptools maps three folders onto one import tree (runplane -> sdk/,
# runplane.server -> server/, runplane.runner -> runner/). mypy cannot follow that
# mapping through an editable install (the install's import hook is code that mypy
# does not run), and mypy_path or explicit_package_bases name a module after its
# folder, with no way to put sdk/ under the name runplane. So this script lays the
# tree out as symlinks under .typecheck/runplane/ (found through mypy_path in
# pyproject.toml) and maps the reported paths back to the real folders.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tree=.typecheck/runplane
# Rebuilt from scratch each run so that renamed or deleted modules leave no stale links.
rm -rf .typecheck
mkdir -p "$tree"
for entry in sdk/* sdk/.[!.]*; do
  [ -e "$entry" ] || continue
  name=$(basename "$entry")
  [ "$name" = __pycache__ ] && continue
  ln -s "$root/$entry" "$tree/$name"
done
for sub in server runner; do
  [ -d "$sub" ] && ln -s "$root/$sub" "$tree/$sub"
done

# Reported paths look like .typecheck/runplane/server/x.py; show server/x.py instead.
"$root/.venv/bin/mypy" -p runplane "$@" 2>&1 | sed -E \
  -e 's#^\.typecheck/runplane/(server|runner)/#\1/#' \
  -e 's#^\.typecheck/runplane/#sdk/#'
