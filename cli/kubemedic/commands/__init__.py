"""One module per verb group; each exposes a click command registered in kubemedic.main."""
