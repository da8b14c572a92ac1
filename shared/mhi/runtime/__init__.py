"""The imperative shell: wiring, controller I/O, logging, the embedded runtime."""
