"""Development tooling: the local launcher (make run / make demo) and its helpers."""
