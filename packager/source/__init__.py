"""Source stages: read an upload safely (intake), find and check its entry point (checks, conventions)."""
