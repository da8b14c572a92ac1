"""Imitation APIs of the nine source systems: loopback HTTP servers behaving per
`api-reference.md` (auth checks, paging, incremental filters) with injectable faults."""
