"""The flows operators run: promote, rollback, monitor, backup, restore, drill."""
