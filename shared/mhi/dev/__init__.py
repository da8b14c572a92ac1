"""Developer tooling: the local emulator stack behind `mhi dev` (never shipped to Cloud Functions).

`mhi package` leaves this subpackage out of every function bundle: nothing deployed imports it.
"""
