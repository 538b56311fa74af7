"""Faithful fakes of the hardware interfaces the meters read (powercap sysfs, MSR files, pynvml)."""
