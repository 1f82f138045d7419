"""Pure functions from custom resources to Kubernetes manifests and plans: no I/O, no clients.

Everything here is unit-tested without a cluster; ``reconcile`` applies what these functions return.
"""
