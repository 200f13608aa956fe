"""Domain logic: playbooks, the case lifecycle, compensation rules. Knows nothing of Slack."""
