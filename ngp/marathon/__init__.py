"""Marathon: client, the marathon.app kind and snapshot logic (to come)."""
