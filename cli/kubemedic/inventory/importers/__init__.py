"""Importers turn another tool's inventory into a kubemedic customer inventory."""
