"""The evaluation stage: train the network a genotype describes (`bmnas train`)."""
