"""Harnesses the tests share (a real daemon process, the editors root); not tests themselves."""
