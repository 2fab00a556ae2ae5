"""The staff workflow written once: stage descriptors, batch services, route guards and queues."""
