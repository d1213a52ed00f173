"""`kubemedic completion bash|zsh|fish`: the shell completion script (click's own machinery)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from kubemedic import output

SHELLS = ("bash", "zsh", "fish")
# The variable click's completion reads; its name follows from the program name.
COMPLETE_VAR = "_KUBEMEDIC_COMPLETE"
INSTALL = {"bash": 'eval "$(kubemedic completion bash)"   # in ~/.bashrc',
           "zsh": 'eval "$(kubemedic completion zsh)"    # in ~/.zshrc',
           "fish": "kubemedic completion fish > ~/.config/fish/completions/kubemedic.fish"}


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.option("--json", "json_output", is_flag=True,
              help="Print {shell, install, script} as JSON instead of the bare script.")
def completion(shell: str, json_output: bool) -> None:
    """Print the completion script for SHELL (verbs, options, recovery steps, customers).

    bash: eval "$(kubemedic completion bash)" in ~/.bashrc; zsh: the same in ~/.zshrc;
    fish: kubemedic completion fish > ~/.config/fish/completions/kubemedic.fish
    """
    root = click.get_current_context().find_root().command
    shell_class = get_completion_class(shell)
    assert shell_class is not None  # every name in SHELLS is one of click's built-in shells
    script = shell_class(root, {}, "kubemedic", COMPLETE_VAR).source()
    if json_output:
        output.emit_json({"shell": shell, "install": INSTALL[shell], "script": script})
        return
    click.echo(script)
