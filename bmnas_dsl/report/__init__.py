"""`bmnas report`: the summary of a search -> train -> export pipeline."""
