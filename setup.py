"Packaging for xstilts: metadata comes from settings.ini (nbdev 2), dependencies from requirements.txt."
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=["="]); cfg.read(here/"settings.ini", encoding="utf-8")
c = cfg["DEFAULT"]
reqs = [l.split("#")[0].strip() for l in (here/"requirements.txt").read_text().splitlines()]
setuptools.setup(
    name=c["lib_name"], version=c["version"], description=c["description"],
    author=c["author"], author_email=c["author_email"], license="Apache-2.0",
    python_requires=f">={c['min_python']}", packages=setuptools.find_packages(include=["xstilts", "xstilts.*"]),
    install_requires=[r for r in reqs if r], include_package_data=True, zip_safe=False,
    entry_points={"console_scripts": [c["console_scripts"]], "nbdev": [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
)
