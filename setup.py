"""Build hook: ship realm-templates/ and themes/ inside the wheel.

The repository keeps them at the top level (DESIGN.md), next to the package; an
installed package has no such neighbours. ``build_py`` copies both trees into
``idp_extension/_data/``, where ``idp_extension.settings.data_dir`` finds them. An
editable install skips the copy and keeps using the checkout's folders.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_TREES = ("realm-templates", "themes")
ROOT = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in DATA_TREES:
            target = Path(self.build_lib) / "idp_extension" / "_data" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


setup(cmdclass={"build_py": BuildPyWithData})
