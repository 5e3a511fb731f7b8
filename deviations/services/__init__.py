"""Deviations' public services. Other apps call `raise_deviation`; views and the API call the
rest. Each is atomic, takes the acting person, and raises a DomainError a user can act on."""

from deviations.services.raising import raise_deviation

__all__ = ["raise_deviation"]
