"""Engine: the code that writes. Replicas, the executor, the trash, locks and run orchestration."""
