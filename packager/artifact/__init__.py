"""Artifact writing: the deterministic tar.gz (tarball), its manifest, the embedded launcher, pycs."""
