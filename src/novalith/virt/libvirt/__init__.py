"""The libvirt compute driver (QEMU/KVM)."""
