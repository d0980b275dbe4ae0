"""Dependency stages: requirements -> resolve -> fetch -> install (+ slim) for the target, pip run via piprun."""
