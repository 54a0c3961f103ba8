"""Feature banks and the data sets bmnas knows by name (mfeat, planted)."""
