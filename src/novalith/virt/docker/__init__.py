"""The Docker compute driver: instances are containers of a local Docker engine.

See :mod:`novalith.virt.docker.driver` for what it does and how.
"""
