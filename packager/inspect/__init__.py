"""Reading finished artifacts back, offline: inspect, verify, diff, SBOM."""
