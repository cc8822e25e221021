"""Process plumbing, apart from what opsbot does: logging with correlation ids (`logs`), Prometheus
metrics made on first use (`metrics`), the TLS trust store loaded early (`tls`), YAML loading with
errors that name the file (`yamlio`), regexes compiled on first use (`lazyre`), placeholders for the
modules a library imports but rarely uses (`later`), the cache directory and its trusted files
(`cachedir`), compiled regexes kept between runs (`recache`), and the gateways' HTTP client on
httpx's synchronous transport in threads (`httpthread`)."""
