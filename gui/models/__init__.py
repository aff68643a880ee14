"""Qt item models over the bridge's value types, and the sparkline's ring buffer."""
