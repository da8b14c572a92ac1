"""MHI Workflow Orchestrator core library: flow model, engine, ports, adapters, runtime, steps."""

__version__ = "0.1.0"
