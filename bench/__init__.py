"""Benchmarks for lab 11: this project's Redis store beside the lab's algorithm and Microsoft's store.

Run from the repository root with ``python -m bench`` (``--help`` lists the options).
"""
