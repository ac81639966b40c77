"""kiroconsole.settings as production runs them (DEBUG off), with one difference: the static files are collected
into var/bench-static rather than the project's staticfiles/, which belongs to a deployment's `collectstatic`. With
DEBUG off the pages need the collected files' manifest (whitenoise's CompressedManifestStaticFilesStorage): without
it every page that links a stylesheet answers 500. Used by the benchmarks that serve pages through gunicorn
(`bench._http.collect_static`, load_mixed)."""

from kiroconsole.settings import *  # noqa: F403
from kiroconsole.settings import BASE_DIR

STATIC_ROOT = BASE_DIR / "var" / "bench-static"
