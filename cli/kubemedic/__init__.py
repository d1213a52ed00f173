"""kubemedic: build, diagnose and repair on-premise AI Kubernetes clusters."""

__version__ = "0.1.0"
