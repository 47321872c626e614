"""Maps the three source folders onto one `runplane` import tree.

pyproject.toml holds everything else. Only the package list needs code: setuptools' `find`
directive in pyproject.toml names packages after their folders (`sdk._engine`), and cannot
put a folder under a prefix (`runplane._engine`). So each folder is searched here and its
packages are named under the prefix it maps to; a new package is shipped without being
listed, and none can be left out of the wheel while the editable install still finds it.
"""

from setuptools import find_packages, setup

# Import prefix -> folder. runplane.server and runplane.runner live outside sdk/.
PACKAGE_ROOTS = {"runplane": "sdk", "runplane.server": "server", "runplane.runner": "runner"}


def mapped_packages() -> list[str]:
    """Every package (a folder with an __init__.py) under each root, by its import name."""
    packages: list[str] = []
    for prefix, folder in PACKAGE_ROOTS.items():
        packages.append(prefix)
        packages.extend(f"{prefix}.{name}" for name in find_packages(where=folder))
    return packages


setup(package_dir=PACKAGE_ROOTS, packages=mapped_packages())
