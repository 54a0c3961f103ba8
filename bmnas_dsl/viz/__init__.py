"""Pictures of genotypes and search runs (`bmnas viz`)."""
