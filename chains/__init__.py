"""Chains: the YAML format, its loader and the compiler to a plan the engine
runs. Lands with its own issue; the package exists so the namespace is fixed."""
