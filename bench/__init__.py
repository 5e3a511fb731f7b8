"""The benchmark harness (run on demand, never in CI). See bench/README.md."""
