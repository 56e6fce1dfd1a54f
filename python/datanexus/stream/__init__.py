"""Bytewax operators and stream logic built on the native core.

Modules here may import Bytewax; platform modules must not import this package.
"""
