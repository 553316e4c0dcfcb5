"""Cost merge: one parser per surface plus the merge itself."""
