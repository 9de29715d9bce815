"""The sandbox: a local AWS (moto's server) on loopback, in a process that outlives a command."""
