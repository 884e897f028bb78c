"""The channel watchtower (docs/channels.md): guard state channels, payment channels and
chequebooks for users who are offline. ``types`` and the pure rules live here; the service side
shares the rollup side's L1 following, journal, alerts, metrics and store."""
