"""Training services. Other apps use `training.services.gate` (check_certified,
require_certified); the writes live in `sops`, `records`, `certifications` and `expiry`."""
