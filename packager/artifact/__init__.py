"""Artifact writing: the deterministic tar.gz (tarball), its manifest, the embedded launcher, pycs."""

#: gzip level 4, by measurement on a scikit-learn + scipy vendor tree (152 MB of tar):
#: level 4 gives 47.6 MB in 2.6 s, level 6 45.6 MB in 9.0 s, level 9 45.3 MB in 20.7 s,
#: level 1 52.1 MB in 2.0 s (one core). 4% larger than 6 for a third of the time.
#: (Here, not in tarball: the CLI's --level default must not import the writer before a
#: build has started its resolver.)
DEFAULT_LEVEL = 4
