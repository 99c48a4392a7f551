"""Host selection: filters and weighers over an in-memory view of compute nodes.

Public surface: :class:`~novalith.scheduler.host_state.HostState`,
:class:`~novalith.scheduler.selector.HostSelector` and the plugin loaders in
:mod:`novalith.scheduler.plugins`. Everything here is pure: no DB, no RPC.
"""
