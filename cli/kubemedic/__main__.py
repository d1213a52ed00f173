from kubemedic.main import cli

cli()
