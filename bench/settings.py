"""Benchmark settings: the project's settings plus the floor view (bench/urls.py).

The floor is compiled only into these settings, so it never ships: production's
ROOT_URLCONF (mes.urls) does not know it. Loopback HTTP, so no TLS redirect or secure cookies.
"""

import os

os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")

from mes.settings import *  # noqa: E402, F403
from mes.settings import BASE_DIR, TEMPLATES  # noqa: E402

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0].get("DIRS", []), BASE_DIR / "bench" / "templates"]
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The plant is built with a fast hasher (thousands of signatures); accepting it here lets
# those users log in, and the login upgrades their hash to the project's first hasher.
PASSWORD_HASHERS = [*PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]  # noqa: F405
