"""The build steps setup.cfg cannot declare. Everything else is in setup.cfg.

A wheel must run outside a checkout, so its build (not an editable install, which reads the
checkout) adds to the package:
- the compiled Arabic catalogues (the .po files are the source; .mo files are build output), and
- copies of the top-level `config/` and `migrations/` as `idp/_shipped/` (see idp/resources.py).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"config": ["defaults.toml", "local.toml.example", "*.conf.py", "*.example"],
           "migrations": ["env.py", "script.py.mako", "versions/*.py"]}


class BuildPy(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "idp"
        self._compile_catalogues(package / "translations")
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    target = package / "_shipped" / folder / source.relative_to(ROOT / folder)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)

    @staticmethod
    def _compile_catalogues(translations: Path) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in translations.glob("*/LC_MESSAGES/*.po"):
            with po_path.open("rb") as po_file:
                catalogue = read_po(po_file)
            with po_path.with_suffix(".mo").open("wb") as mo_file:
                write_mo(mo_file, catalogue)


setup(cmdclass={"build_py": BuildPy})
