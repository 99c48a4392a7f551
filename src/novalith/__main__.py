"""``python -m novalith``: the same as the ``novalith`` command."""

from novalith.cmd.main import cli

if __name__ == "__main__":
    cli(prog_name="novalith")
