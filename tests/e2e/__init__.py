"""End-to-end tests: ``novalith up`` as a subprocess, driven by openstacksdk and the CLI."""
