"""pypiserver (a PyPI-compatible package index, Bottle, WSGI) as a user would deploy it: the
entry module a WSGI server imports, serving the wheels in ./packages."""

from pathlib import Path

import pypiserver

app = pypiserver.app(roots=[str(Path(__file__).with_name("packages"))])
