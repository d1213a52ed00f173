"""Diagnosis: the knowledge base of error signatures (kb) and the node state checks (checks)."""
