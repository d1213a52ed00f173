"""GPU Xid healing: parse NVRM Xid lines, load/validate a customer policy, decide what to do.

Pure Python (no host contact). `kubemedic heal` feeds it what playbooks/heal.yml scanned and
hands the resulting plan back to heal.yml, which runs the actions.
"""
