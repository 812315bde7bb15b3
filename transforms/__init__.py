"""Pure Polars transforms: frames in, frames out; no file, network or clock access."""
