"""Neural architecture search: CLIs, strategies, rewards, evaluators, training, storage."""
