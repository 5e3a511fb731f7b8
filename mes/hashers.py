"""Argon2id at the OWASP Password Storage Cheat Sheet's parameters (19 MiB of memory, two
iterations, one lane): as strong against offline guessing as PBKDF2 at Django's default, at
a small fraction of the time, which matters because every electronic signature re-checks the
password (21 CFR 11.200). Hashes made with other parameters or algorithms are upgraded at the
person's next successful login or signature."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2idPasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
